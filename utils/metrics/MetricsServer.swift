import CoreMetrics
import LibCFS
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// `--metrics-address HOST:PORT`: Prometheus text on `GET /metrics` over NIO HTTP.
///
/// Each scrape reads the process's Lustre stats files (see `StatsExposition`) into a fresh
/// registry, then appends the process-wide registry that swift-metrics is bootstrapped with
/// (so any component's `Counter(label:)` from swift-metrics is exported too).  Reading the
/// stats is memory only (the parameter tree's getters format counters), so it runs on the
/// event loop.
public final class MetricsServer: Sendable {
    /// The address bound (the port is the real one when 0 was asked).
    public let address: SocketAddress
    private let channel: any Channel
    /// The registry behind swift-metrics' `MetricsSystem` in this process.
    public static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    private init(channel: any Channel, address: SocketAddress) {
        self.channel = channel
        self.address = address
    }

    /// Serves `HOST:PORT` (an IPv4 address or name, and a port; 0 picks one).
    ///
    /// - Throws: `EINVAL` for a malformed address, the bind error otherwise.
    public static func start(address text: String,
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws(LustreError)
        -> MetricsServer {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port), colon != text.startIndex else {
            throw .invalid("--metrics-address '\(text)': expected HOST:PORT")
        }
        let host = String(text[..<colon])
        let processRegistry = registry
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHTTPHandler(processRegistry: processRegistry))
                }
            }
        do {
            let channel = try await bootstrap.bind(host: host, port: port).get()
            guard let bound = channel.localAddress else { throw LustreError.invalid("no local address") }
            LCONSOLE("metrics on http://\(text)/metrics")
            return MetricsServer(channel: channel, address: bound)
        } catch let error as LustreError {
            throw error
        } catch {
            throw LustreError(errno: EADDRNOTAVAIL, "--metrics-address \(text): \(error)")
        }
    }

    /// Stops listening.
    public func stop() async {
        try? await channel.close().get()
    }
}

/// One HTTP/1.1 exchange: `GET /metrics` answers the exposition, anything else 404 or 405.
final class MetricsHTTPHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let processRegistry: PrometheusCollectorRegistry

    init(processRegistry: PrometheusCollectorRegistry) {
        self.processRegistry = processRegistry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        var body: [UInt8]
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            body = Array("only GET\n".utf8)
        } else if path == "/metrics" {
            status = .ok
            let scrape = PrometheusCollectorRegistry()
            StatsExposition.collect(into: scrape)
            body = scrape.emitToBuffer()
            processRegistry.emit(into: &body)
        } else {
            status = .notFound
            body = Array("try /metrics\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4" : "text/plain")
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
                      promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
