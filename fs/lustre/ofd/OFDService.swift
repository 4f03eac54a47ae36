import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The OST service of one process (`ost` in Lustre): one `PtlRPCService` on the OST portals with
/// every served target behind it. A client connects to a target by its UUID
/// (`testfs-OST0000_UUID`); its export is bound to that target for every later request.
public final class OFDService: Sendable {
    /// The portals of the OST service; the OSC uses the same ones.
    public static let portals = PtlRPCService.Portals(request: Portal.ostRequest, reply: Portal.oscReply,
                                                      bulk: Portal.ostBulk)

    /// The targets served, by name.
    public let targets: [OFDTarget]
    private let service: PtlRPCService

    /// A service for `targets` on `lnet`, with `threads` handler tasks (each waits on its OSD,
    /// so there are more of them than cores).
    public init(lnet: LNetInstance, targets: [OFDTarget], threads: Int = 32) {
        self.targets = targets
        self.service = PtlRPCService(name: "ost", lnet: lnet, portals: Self.portals,
                                     connectOpcode: Opcode.ostConnect, disconnectOpcode: Opcode.ostDisconnect,
                                     threads: threads, connectFlags: [.shortIO],
                                     handler: OFDDispatcher(targets: targets))
    }

    /// Starts answering requests, with `obdfilter.<target>.evict_client` (write a client's
    /// UUID to evict it, as Lustre's).
    public func start() {
        service.start()
        for target in targets {
            try? service.registerEvictClient("obdfilter.\(target.name).evict_client")
        }
    }

    /// Stops answering once the requests being handled are done.
    public func stop() async {
        for target in targets { _ = ParamTree.shared.unregister("obdfilter.\(target.name).evict_client") }
        await service.stop()
    }

    /// This start of the service: clients seeing another instance know the OSS restarted.
    public var instance: UInt64 { service.instance }

    /// Clients connected now, to any target.
    public var exportCount: Int { service.exportCount }
}

/// Routes each request to the target its export connected to.
final class OFDDispatcher: PtlRPCHandler {
    private let targets: [String: OFDTarget]
    /// The target of each export, by export handle.
    private let bound = Mutex<[UInt64: OFDTarget]>([:])

    init(targets: [OFDTarget]) {
        self.targets = Dictionary(targets.map { ($0.name.description, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func connect(target: String, export: PtlRPCExport) throws(LustreError) {
        guard let name = try? TargetName(parsing: target), let served = targets[name.description] else {
            throw LustreError(errno: ENODEV, "no target \(target) on this OSS")
        }
        let previous = bound.withLock { bound in
            defer { bound[export.handle] = served }
            return bound[export.handle]
        }
        if let previous, previous !== served { previous.disconnected(export) }
        served.connected(export)
    }

    func connectData(_ data: ByteBuffer?, export: PtlRPCExport) throws(LustreError) -> ByteBuffer? {
        try bound.withLock({ $0[export.handle] })?.connectGrant(data, export: export)
    }

    func disconnected(_ export: PtlRPCExport) {
        bound.withLock { $0.removeValue(forKey: export.handle) }?.disconnected(export)
    }

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        guard let opcode = OSTOpcode(rawValue: request.message.opcode) else {
            CDEBUG(.rpctrace, "ost: unsupported opcode \(request.message.opcode) from \(request.initiator)")
            return .error(.notSupported("OST opcode \(request.message.opcode)"))
        }
        if opcode == .ping { return PtlRPCReply() }
        guard let target = bound.withLock({ $0[request.export.handle] }) else {
            return .error(LustreError(errno: ENOTCONN, "export \(request.export.handle) has no target"))
        }
        return await target.handle(request, opcode: opcode)
    }

    /// `last_committed` of the target this client is connected to.
    func lastCommitted(for export: PtlRPCExport) -> UInt64 {
        bound.withLock { $0[export.handle] }?.lastCommitted ?? 0
    }
}
