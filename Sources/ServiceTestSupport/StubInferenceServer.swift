import NIOCore
import NIOHTTP1
import NIOPosix
import Locking

/// A real HTTP/1.1 server on 127.0.0.1 (port 0) that answers every request with what
/// the test tells it to: a status, a body, and optionally a delay (to provoke timeouts).
/// Records the bodies it received. Stands in for an inference server in tests of how
/// the client and the pipeline handle bad answers (500, malformed bodies, slowness).
public final class StubInferenceServer: Sendable {
    /// What the server answers to one request.
    public struct Reply: Sendable {
        /// The HTTP status.
        public var status: HTTPResponseStatus
        /// The body, sent as `application/json`.
        public var body: String
        /// How long to wait before answering.
        public var delay: TimeAmount

        /// Creates a reply (200 and no delay by default).
        public init(status: HTTPResponseStatus = .ok, body: String, delay: TimeAmount = .zero) {
            self.status = status
            self.body = body
            self.delay = delay
        }
    }

    /// Decides the reply from the request's URI and body.
    public typealias Responder = @Sendable (_ uri: String, _ body: String) -> Reply

    private let channel: any Channel
    private let received: Received

    /// `http://127.0.0.1:<port>`.
    public let baseURL: String

    /// The request bodies received so far, in arrival order.
    public var requestBodies: [String] { received.bodies.withLock { $0 } }

    private init(channel: any Channel, received: Received) throws {
        self.channel = channel
        self.received = received
        guard let port = channel.localAddress?.port else { throw ChannelError.unknownLocalAddress }
        self.baseURL = "http://127.0.0.1:\(port)"
    }

    /// Starts a server that answers with `responder`.
    /// - Throws: the NIO error when it cannot bind.
    public static func start(_ responder: @escaping Responder) async throws -> StubInferenceServer {
        let received = Received()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(responder: responder, received: received))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return try StubInferenceServer(channel: channel, received: received)
    }

    /// Stops listening.
    /// - Throws: the NIO error when closing the listening channel fails.
    public func stop() async throws {
        try await channel.close()
    }

    private final class Received: Sendable {
        let bodies = LockedValue<[String]>([])
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let responder: Responder
        let received: Received
        var uri = ""
        var body = ""

        init(responder: @escaping Responder, received: Received) {
            self.responder = responder
            self.received = received
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case let .head(head):
                uri = head.uri
                body = ""
            case var .body(buffer):
                body += buffer.readString(length: buffer.readableBytes) ?? ""
            case .end:
                let body = self.body
                received.bodies.withLock { $0.append(body) }
                let reply = responder(uri, body)
                if reply.delay == .zero {
                    respond(reply, context: context)
                } else {
                    let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                    context.eventLoop.scheduleTask(in: reply.delay) {
                        let (handler, context) = loopBound.value
                        handler.respond(reply, context: context)
                    }
                }
            }
        }

        private func respond(_ reply: Reply, context: ChannelHandlerContext) {
            guard context.channel.isActive else { return }
            var headers = HTTPHeaders()
            headers.add(name: "content-type", value: "application/json")
            headers.add(name: "content-length", value: "\(reply.body.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: reply.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: reply.body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
