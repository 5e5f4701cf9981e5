import NIOCore
import NIOPosix
import Locking

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A TCP proxy for fault-injection tests: listens on `127.0.0.1:<ephemeral port>` and
/// forwards every connection to a real server (PostgreSQL, MLServer, a Kafka broker),
/// until a test tells it to misbehave.
///
/// Modes, switched at any time (each call returns once the change is applied to every
/// existing connection):
/// - ``restore()``: forward bytes both ways (the initial mode);
/// - ``cut()``: close every existing connection and reset every new one at once —
///   "the server went away, connection refused";
/// - ``partition()``: stop moving bytes and hold new connections without connecting
///   them upstream — "the network silently drops packets". Nothing is lost: bytes wait
///   in the socket buffers (TCP back-pressure) and flow again on ``restore()``;
/// - ``delay(_:)``: add latency to every chunk forwarded in either direction (order kept).
///
/// The real server is never touched. Stop the proxy with ``stop()`` (closes everything).
///
/// Kafka note: brokers advertise their own address in metadata, so a Kafka client will
/// bypass the proxy after bootstrap unless the broker advertises the proxy's address.
public final class TCPFaultProxy: Sendable {
    /// What the proxy does with traffic right now.
    public enum Mode: Sendable, Equatable {
        /// Bytes flow both ways.
        case forwarding
        /// Connections are closed and new ones reset.
        case cut
        /// Bytes are held, new connections are accepted but not connected upstream.
        case partitioned
    }

    /// Counters, for assertions that traffic really went through the proxy.
    public struct Statistics: Sendable, Equatable {
        /// Connections accepted since start (including refused ones).
        public var accepted: Int
        /// Connections refused (reset) while ``Mode/cut``.
        public var refused: Int
        /// Connections currently open (or held while partitioned).
        public var open: Int
    }

    /// Always `127.0.0.1`.
    public let host: String = "127.0.0.1"
    /// The port the proxy listens on.
    public let port: Int
    /// The upstream server's host.
    public let targetHost: String
    /// The upstream server's port.
    public let targetPort: Int

    private let serverChannel: any Channel
    private let shared: Shared

    /// State shared between the control calls and the event loops.
    final class Shared: Sendable {
        struct State {
            var mode: Mode = .forwarding
            var delay: Duration = .zero
            var connections: [ObjectIdentifier: ProxiedConnection] = [:]
            var accepted = 0
            var refused = 0
            var stopped = false
        }
        let state = LockedValue(State())
        let targetHost: String
        let targetPort: Int
        init(targetHost: String, targetPort: Int) {
            self.targetHost = targetHost
            self.targetPort = targetPort
        }
    }

    /// The error thrown by ``start(forwardingTo:port:group:)`` when it cannot listen.
    public struct StartError: Error, CustomStringConvertible {
        /// Why the proxy could not start.
        public let description: String
    }

    private init(serverChannel: any Channel, port: Int, shared: Shared) {
        self.serverChannel = serverChannel
        self.port = port
        self.shared = shared
        self.targetHost = shared.targetHost
        self.targetPort = shared.targetPort
    }

    /// Starts a proxy to `targetHost:targetPort`, listening on 127.0.0.1 on a free port.
    /// The upstream is not contacted until a client connects.
    /// - Throws: ``StartError`` (or the NIO error) when it cannot bind.
    public static func start(
        forwardingTo targetHost: String,
        port targetPort: Int,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> TCPFaultProxy {
        let shared = Shared(targetHost: targetHost, targetPort: targetPort)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.autoRead, value: false)
            .childChannelInitializer { channel in
                Self.accept(channel, shared: shared)
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else {
            try? await channel.close()
            throw StartError(description: "TCPFaultProxy: bound, but the listening port is unknown")
        }
        return TCPFaultProxy(serverChannel: channel, port: port, shared: shared)
    }

    /// `host:port` of the proxy, for clients.
    public var address: String { "\(host):\(port)" }

    /// The current mode.
    public var mode: Mode { shared.state.withLock { $0.mode } }

    /// Current counters.
    public var statistics: Statistics {
        shared.state.withLock { Statistics(accepted: $0.accepted, refused: $0.refused, open: $0.connections.count) }
    }

    /// Closes every existing connection (both sides) and resets new ones until ``restore()``.
    /// Returns once every existing connection is closed.
    public func cut() async {
        await switchMode(to: .cut)
    }

    /// Stops all traffic without closing anything; new connections are accepted but held.
    /// Returns once every existing connection has stopped reading.
    public func partition() async {
        await switchMode(to: .partitioned)
    }

    /// Forwards traffic again: held connections connect upstream, paused ones resume.
    public func restore() async {
        await switchMode(to: .forwarding)
    }

    /// Sets extra latency for every forwarded chunk, both directions (`.zero` for none).
    /// Applies to data read from now on; bytes already delayed keep their schedule.
    public func delay(_ latency: Duration) async {
        let latency = max(latency, .zero)
        let connections = shared.state.withLock { state in
            state.delay = latency
            return Array(state.connections.values)
        }
        await Self.onEachLoop(connections) { $0.setDelay(latency) }
    }

    /// Stops listening and closes every connection. Idempotent.
    public func stop() async {
        let connections = shared.state.withLock { state in
            state.stopped = true
            return Array(state.connections.values)
        }
        try? await serverChannel.close()
        await Self.onEachLoop(connections) { $0.close() }
        await Self.waitClosed(connections)
    }

    private func switchMode(to mode: Mode) async {
        let connections = shared.state.withLock { state in
            state.mode = mode
            return Array(state.connections.values)
        }
        switch mode {
        case .cut:
            await Self.onEachLoop(connections) { $0.close() }
            await Self.waitClosed(connections)
        case .partitioned:
            await Self.onEachLoop(connections) { $0.pause() }
        case .forwarding:
            await Self.onEachLoop(connections) { $0.resume() }
        }
    }

    private static func onEachLoop(_ connections: [ProxiedConnection], _ body: @escaping @Sendable (ProxiedConnection) -> Void) async {
        for connection in connections {
            try? await connection.eventLoop.submit { body(connection) }.get()
        }
    }

    private static func waitClosed(_ connections: [ProxiedConnection]) async {
        for connection in connections {
            try? await connection.closeFuture.get()
        }
    }

    /// Runs on the accepted channel's event loop.
    private static func accept(_ channel: any Channel, shared: Shared) -> EventLoopFuture<Void> {
        let decision: (mode: Mode, delay: Duration, connection: ProxiedConnection?) = shared.state.withLock { state in
            state.accepted += 1
            if state.stopped || state.mode == .cut {
                state.refused += 1
                return (state.mode, state.delay, nil)
            }
            let connection = ProxiedConnection(inbound: channel, shared: shared, delay: state.delay)
            state.connections[ObjectIdentifier(connection)] = connection
            return (state.mode, state.delay, connection)
        }
        guard let connection = decision.connection else {
            // Reset (RST), like a closed port: the client fails at once.
            return Self.setResetOnClose(channel).flatMap {
                channel.eventLoop.makeFailedFuture(Refused())
            }
        }
        channel.closeFuture.whenComplete { _ in
            connection.inboundClosed()
            _ = shared.state.withLock { $0.connections.removeValue(forKey: ObjectIdentifier(connection)) }
        }
        do {
            try connection.installInbound()
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        if decision.mode == .forwarding {
            connection.connectUpstream()
        } else {
            connection.pause()
        }
        return channel.eventLoop.makeSucceededVoidFuture()
    }

    static func setResetOnClose(_ channel: any Channel) -> EventLoopFuture<Void> {
        guard let provider = channel as? any SocketOptionProvider else { return channel.eventLoop.makeSucceededVoidFuture() }
        return provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).recover { _ in }
    }

    struct Refused: Error {}
}

/// One client connection and its upstream twin. Confined to the inbound channel's event
/// loop (the upstream channel is created on the same loop), which makes it safe to share.
final class ProxiedConnection: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let inbound: any Channel
    private var upstream: (any Channel)?
    private let shared: TCPFaultProxy.Shared
    private let toUpstream: RelayHandler
    private let toClient: RelayHandler
    private var paused = false
    private var connecting = false
    private var closed = false

    var closeFuture: EventLoopFuture<Void> { inbound.closeFuture }

    init(inbound: any Channel, shared: TCPFaultProxy.Shared, delay: Duration) {
        self.eventLoop = inbound.eventLoop
        self.inbound = inbound
        self.shared = shared
        self.toUpstream = RelayHandler(delay: delay)
        self.toClient = RelayHandler(delay: delay)
    }

    func installInbound() throws {
        eventLoop.preconditionInEventLoop()
        try inbound.pipeline.syncOperations.addHandler(toUpstream)
    }

    func connectUpstream() {
        eventLoop.preconditionInEventLoop()
        guard upstream == nil, !connecting, !closed else { return }
        connecting = true
        let toClient = self.toClient
        let toUpstream = self.toUpstream
        ClientBootstrap(group: eventLoop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                do {
                    try channel.pipeline.syncOperations.addHandler(toClient)
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            .connect(host: shared.targetHost, port: shared.targetPort)
            .whenComplete { result in
                self.connecting = false
                switch result {
                case .success(let channel):
                    self.upstream = channel
                    if self.closed {
                        channel.close(promise: nil)
                        return
                    }
                    toUpstream.pair(with: toClient)
                    if !self.paused { self.resumeRelays() }
                case .failure:
                    // Upstream down: reset the client like the server itself would.
                    _ = TCPFaultProxy.setResetOnClose(self.inbound).always { _ in self.close() }
                }
            }
    }

    func pause() {
        eventLoop.preconditionInEventLoop()
        paused = true
        toUpstream.setPaused(true)
        toClient.setPaused(true)
    }

    func resume() {
        eventLoop.preconditionInEventLoop()
        paused = false
        if upstream == nil {
            connectUpstream()
        } else {
            resumeRelays()
        }
    }

    private func resumeRelays() {
        toUpstream.setPaused(false)
        toClient.setPaused(false)
    }

    func setDelay(_ delay: Duration) {
        eventLoop.preconditionInEventLoop()
        toUpstream.delay = delay
        toClient.delay = delay
    }

    /// The client side closed. An upstream connect still in flight is dropped when it
    /// completes; an established upstream is closed by its relay once drained.
    func inboundClosed() {
        eventLoop.preconditionInEventLoop()
        if upstream == nil { closed = true }
    }

    /// Closes both sides at once (cut, stop).
    func close() {
        eventLoop.execute {
            guard !self.closed else { return }
            self.closed = true
            self.inbound.close(promise: nil)
            self.upstream?.close(promise: nil)
        }
    }
}

/// Reads from its own channel and writes to the partner relay's channel, honoring
/// pause (stop reading), the partner's writability (back-pressure) and the delay.
/// Both relays of a connection live on one event loop.
final class RelayHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var delay: Duration
    private var context: ChannelHandlerContext?
    private var eventLoop: (any EventLoop)?
    private var partner: RelayHandler?
    private var paused = true
    private var readPending = false
    /// Chunks read from this channel, waiting for their delay before going to the partner.
    private var delayed: [(due: NIODeadline, data: ByteBuffer)] = []
    private var delayedHead = 0
    /// Chunks read while paused (a read was already in flight); forwarded on resume.
    private var held: [ByteBuffer] = []
    private var timer: Scheduled<Void>?
    /// This channel closed while chunks were still delayed: close the partner once sent.
    private var closePartnerWhenDrained = false

    init(delay: Duration) {
        self.delay = delay
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Links two relays (same event loop) so each writes into the other's channel.
    func pair(with other: RelayHandler) {
        partner = other
        other.partner = self
    }

    func setPaused(_ paused: Bool) {
        self.paused = paused
        guard !paused else { return }
        // Bytes that arrived from a read already in flight when the pause began.
        let held = self.held
        self.held.removeAll()
        for buffer in held { forward(buffer) }
        partner?.flush()
        scheduleDelayed()
        closePartnerIfDrained()
        readIfAllowed()
    }

    private var mayRead: Bool {
        guard !paused, let partner, let partnerContext = partner.context else { return false }
        return partnerContext.channel.isWritable
    }

    private func readIfAllowed() {
        guard readPending, mayRead, let context else { return }
        readPending = false
        context.read()
    }

    // Outbound `read` (from autoRead or from us): held while paused or the partner is full.
    func read(context: ChannelHandlerContext) {
        readPending = true
        readIfAllowed()
    }

    func channelActive(context: ChannelHandlerContext) {
        readPending = true
        context.fireChannelActive()
        readIfAllowed()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        if paused {
            held.append(buffer)
        } else {
            forward(buffer)
        }
    }

    private func forward(_ buffer: ByteBuffer) {
        if delay == .zero && delayedHead == delayed.count {
            partner?.write(buffer)
        } else {
            let wanted = NIODeadline.now() + TimeAmount.nanoseconds(Self.nanoseconds(delay))
            let due = delayed.last.map { max($0.due, wanted) } ?? wanted
            delayed.append((due, buffer))
            scheduleDelayed()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.flush()
        readPending = true
        readIfAllowed()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        partner?.readIfAllowed()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // Whatever the partner still delays was headed into this closed channel.
        partner?.dropDelayed()
        closePartnerWhenDrained = true
        closePartnerIfDrained()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func write(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func flush() {
        context?.flush()
    }

    private func closeChannel() {
        context?.close(promise: nil)
    }

    private func dropDelayed() {
        held.removeAll()
        delayed.removeAll()
        delayedHead = 0
        timer?.cancel()
        timer = nil
    }

    private func scheduleDelayed() {
        guard !paused, timer == nil, delayedHead < delayed.count, let eventLoop else { return }
        timer = eventLoop.scheduleTask(deadline: delayed[delayedHead].due) { [self] in
            timer = nil
            releaseDue()
        }
    }

    private func releaseDue() {
        guard !paused else { return }  // resumed by setPaused(false)
        let now = NIODeadline.now()
        var sent = false
        while delayedHead < delayed.count, delayed[delayedHead].due <= now {
            partner?.write(delayed[delayedHead].data)
            delayedHead += 1
            sent = true
        }
        if sent { partner?.flush() }
        if delayedHead == delayed.count {
            delayed.removeAll(keepingCapacity: true)
            delayedHead = 0
            closePartnerIfDrained()
        } else {
            scheduleDelayed()
        }
    }

    /// After this channel closed: once nothing read from it waits (delayed or held),
    /// close the partner and drop the link (breaking the pair's reference cycle).
    private func closePartnerIfDrained() {
        guard closePartnerWhenDrained, delayedHead == delayed.count, held.isEmpty else { return }
        partner?.closeChannel()
        partner = nil
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
