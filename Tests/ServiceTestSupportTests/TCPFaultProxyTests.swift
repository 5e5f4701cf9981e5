import Glibc
import NIOCore
import NIOPosix
import Locking
import Testing
@testable import ServiceTestSupport

/// A tiny echo server, so the proxy is tested without any external service.
final class EchoServer: Sendable {
    let channel: any Channel
    let received = LockedValue(0)
    var port: Int { channel.localAddress?.port ?? 0 }

    private init(channel: any Channel) { self.channel = channel }

    static func start() async throws -> EchoServer {
        let counter = Counter()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(counter: counter))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = EchoServer(channel: channel)
        counter.server.withLock { $0 = server }
        return server
    }

    func stop() async {
        try? await channel.close()
    }

    final class Counter: Sendable {
        let server = LockedValue<EchoServer?>(nil)
        func add(_ count: Int) {
            server.withLock { server in server?.received.withLock { $0 += count } }
        }
    }

    final class EchoHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let counter: Counter
        init(counter: Counter) { self.counter = counter }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            counter.add(buffer.readableBytes)
            context.write(wrapOutboundOut(buffer), promise: nil)
        }
        func channelReadComplete(context: ChannelHandlerContext) { context.flush() }
    }
}

/// A test client over the proxy.
struct Client {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func connect(port: Int) async throws -> Client {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return Client(channel: channel)
    }

    enum ReadResult: Equatable {
        case bytes([UInt8])
        /// The connection ended (EOF, reset) before `count` bytes arrived; carries what did.
        case closed([UInt8])
    }

    /// Sends `bytes`, then reads until `count` bytes arrived or the connection ended.
    static func exchange(port: Int, send bytes: [UInt8], expect count: Int) async throws -> ReadResult {
        let client = try await connect(port: port)
        return try await client.channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: bytes))
            var iterator = inbound.makeAsyncIterator()
            return await readUpTo(count, from: &iterator)
        }
    }

    /// Reads until `count` bytes arrived or the connection ended. Hangs are turned into
    /// failures by the suite's time limit; no test relies on timing.
    static func readUpTo(_ count: Int, from iterator: inout NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) async -> ReadResult {
        var collected: [UInt8] = []
        do {
            while let buffer = try await iterator.next() {
                collected += buffer.readableBytesView
                if collected.count >= count { return .bytes(collected) }
            }
        } catch {
            return .closed(collected)
        }
        return .closed(collected)
    }
}

@Suite(.timeLimit(.minutes(1))) struct TCPFaultProxyTests {
    func withProxy(_ body: (TCPFaultProxy, EchoServer) async throws -> Void) async throws {
        let server = try await EchoServer.start()
        let proxy = try await TCPFaultProxy.start(forwardingTo: "127.0.0.1", port: server.port)
        do {
            try await body(proxy, server)
        } catch {
            await proxy.stop()
            await server.stop()
            throw error
        }
        await proxy.stop()
        await server.stop()
    }

    @Test func forwardsBothWays() async throws {
        try await withProxy { proxy, server in
            #expect(proxy.host == "127.0.0.1")
            #expect(proxy.port != server.port && proxy.port > 0)
            let payload = Array("hello through the proxy".utf8)
            let result = try await Client.exchange(port: proxy.port, send: payload, expect: payload.count)
            #expect(result == .bytes(payload))
            #expect(proxy.statistics.accepted == 1)
            #expect(server.received.withLock { $0 } == payload.count)
        }
    }

    @Test func largeTransferArrivesIntactAndInOrder() async throws {
        try await withProxy { proxy, _ in
            let payload = (0..<(4 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
            let result = try await Client.exchange(port: proxy.port, send: payload, expect: payload.count)
            #expect(result == .bytes(payload))
        }
    }

    @Test func cutClosesExistingConnectionsAndResetsNewOnes() async throws {
        try await withProxy { proxy, _ in
            let client = try await Client.connect(port: proxy.port)
            try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "ab"))
                #expect(await Client.readUpTo(2, from: &iterator) == .bytes(Array("ab".utf8)))
                await proxy.cut()
                #expect(proxy.mode == .cut)
                // The existing connection ends without further data.
                #expect(await Client.readUpTo(1, from: &iterator) == .closed([]))
            }
            #expect(proxy.statistics.open == 0)
            // A new connection is reset at once: no echo ever comes back.
            let refused: Client.ReadResult
            do {
                refused = try await Client.exchange(port: proxy.port, send: Array("x".utf8), expect: 1)
            } catch {
                refused = .closed([])  // connect or write failed: also refused
            }
            #expect(refused == .closed([]))
            #expect(proxy.statistics.refused >= 1)
        }
    }

    @Test func restoreAfterCutForwardsAgain() async throws {
        try await withProxy { proxy, _ in
            await proxy.cut()
            await proxy.restore()
            #expect(proxy.mode == .forwarding)
            let result = try await Client.exchange(port: proxy.port, send: Array("back".utf8), expect: 4)
            #expect(result == .bytes(Array("back".utf8)))
        }
    }

    @Test func partitionHoldsBytesAndRestoreDeliversThem() async throws {
        try await withProxy { proxy, server in
            let client = try await Client.connect(port: proxy.port)
            try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "one"))
                #expect(await Client.readUpTo(3, from: &iterator) == .bytes(Array("one".utf8)))
                await proxy.partition()
                try await outbound.write(ByteBuffer(string: "two"))
                // A direct round trip to the server proves it is responsive…
                let direct = try await Client.exchange(port: server.port, send: Array("d".utf8), expect: 1)
                #expect(direct == .bytes(Array("d".utf8)))
                // …while the partitioned bytes have not reached it (3 + the direct 1).
                #expect(server.received.withLock { $0 } == 4)
                await proxy.restore()
                #expect(await Client.readUpTo(3, from: &iterator) == .bytes(Array("two".utf8)))
            }
        }
    }

    @Test func connectionsOpenedDuringPartitionConnectOnRestore() async throws {
        try await withProxy { proxy, server in
            await proxy.partition()
            let client = try await Client.connect(port: proxy.port)
            try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                try await outbound.write(ByteBuffer(string: "held"))
                #expect(server.received.withLock { $0 } == 0)
                await proxy.restore()
                #expect(await Client.readUpTo(4, from: &iterator) == .bytes(Array("held".utf8)))
            }
        }
    }

    @Test func delayKeepsOrderAndContent() async throws {
        try await withProxy { proxy, _ in
            await proxy.delay(.milliseconds(20))
            let client = try await Client.connect(port: proxy.port)
            try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
                var expected: [UInt8] = []
                for index in 0..<50 {
                    let chunk = Array("chunk-\(index);".utf8)
                    expected += chunk
                    try await outbound.write(ByteBuffer(bytes: chunk))
                }
                #expect(await Client.readUpTo(expected.count, from: &iterator) == .bytes(expected))
            }
            await proxy.delay(.zero)
            #expect(try await Client.exchange(port: proxy.port, send: [1, 2, 3], expect: 3) == .bytes([1, 2, 3]))
        }
    }

    @Test func unreachableUpstreamClosesTheClient() async throws {
        // A port bound and held, never listened on: connecting is refused, and no other
        // test's server can take it meanwhile (one closed before the test could be: the
        // suite's HTTP servers bind port 0, and one answered 400).
        let holder = try #require(Optional(Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)))
        defer { Glibc.close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        try #require(bound)
        let deadPort = Int(UInt16(bigEndian: address.sin_port))
        let proxy = try await TCPFaultProxy.start(forwardingTo: "127.0.0.1", port: deadPort)
        let result: Client.ReadResult
        do {
            result = try await Client.exchange(port: proxy.port, send: [42], expect: 1)
        } catch {
            result = .closed([])
        }
        #expect(result == .closed([]))
        await proxy.stop()
    }

    @Test func stopClosesEverythingAndIsIdempotent() async throws {
        let server = try await EchoServer.start()
        let proxy = try await TCPFaultProxy.start(forwardingTo: "127.0.0.1", port: server.port)
        let client = try await Client.connect(port: proxy.port)
        try await client.channel.executeThenClose { inbound, outbound in
                var iterator = inbound.makeAsyncIterator()
            try await outbound.write(ByteBuffer(string: "z"))
            #expect(await Client.readUpTo(1, from: &iterator) == .bytes(Array("z".utf8)))
            await proxy.stop()
            #expect(await Client.readUpTo(1, from: &iterator) == .closed([]))
        }
        await proxy.stop()
        #expect(proxy.statistics.open == 0)
        await #expect(throws: (any Error).self) {
            _ = try await Client.connect(port: proxy.port)
        }
        await server.stop()
    }
}
