import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The MGS's RPC service (`mgs` in Lustre): one `PtlRPCService` on the MGS portals answering
/// target registrations and configuration reads for an `MGSDevice`. Clients connect to the
/// target named `MGS`.
public final class MGSService: Sendable {
    /// The portals of the MGS service; the MGC uses the same ones.
    public static let portals = PtlRPCService.Portals(request: Portal.mgsRequest, reply: Portal.mgcReply,
                                                      bulk: Portal.mgsBulk)
    /// The name clients connect to.
    public static let targetName = "MGS"

    public let device: MGSDevice
    private let service: PtlRPCService
    private let handler: MGSHandler

    /// A service for `device` on `lnet` with `threads` handler tasks. Long-polling config reads
    /// hold a task each, so at most `threads - 2` are held and the rest answer at once.
    public init(lnet: LNetInstance, device: MGSDevice, threads: Int = 16) {
        self.device = device
        let handler = MGSHandler(device: device, maxWaiting: max(0, threads - 2))
        self.handler = handler
        self.service = PtlRPCService(name: "mgs", lnet: lnet, portals: Self.portals,
                                     connectOpcode: Opcode.mgsConnect, disconnectOpcode: Opcode.mgsDisconnect,
                                     threads: threads, handler: handler)
    }

    public func start() { service.start() }

    /// Stops answering; held config reads are answered with what the MGS has.
    public func stop() async {
        handler.stopping.withLock { $0 = true }
        device.wakeAll()
        await service.stop()
    }

    /// Clients (servers and mounts) connected now.
    public var exportCount: Int { service.exportCount }
}

/// Answers MGS requests for one device.
final class MGSHandler: PtlRPCHandler {
    let device: MGSDevice
    let maxWaiting: Int
    let waiting = Mutex(0)
    let stopping = Mutex(false)

    init(device: MGSDevice, maxWaiting: Int) {
        self.device = device
        self.maxWaiting = maxWaiting
    }

    func connect(target: String, export: PtlRPCExport) throws(LustreError) {
        guard target == MGSService.targetName || target == MGSService.targetName + "_UUID" else {
            throw LustreError(errno: ENODEV, "this server's MGS is named \(MGSService.targetName), not \(target)")
        }
    }

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        guard let opcode = MGSOpcode(rawValue: request.message.opcode) else {
            CDEBUG(.rpctrace, "mgs: unsupported opcode \(request.message.opcode) from \(request.initiator)")
            return .error(.notSupported("MGS opcode \(request.message.opcode)"))
        }
        do throws(LustreError) {
            switch opcode {
            case .ping:
                return PtlRPCReply()
            case .targetRegister:
                var body = try request.message.buffer(0, "target registration")
                let registration = try MGSTargetRegistration(decoding: &body)
                let generation = try await device.register(registration.target, nids: registration.nids)
                return PtlRPCReply(buffers: [MGSTargetRegistrationReply(generation: generation).encoded()])
            case .configRead:
                var body = try request.message.buffer(0, "config request")
                let query = try MGSConfigRequest(decoding: &body)
                let configuration = try await read(query, requestTimeout: request.message.timeout)
                return PtlRPCReply(buffers: [configuration.encoded()])
            case .connect, .disconnect:
                throw LustreError.protocolError("\(opcode) outside the connection handshake")
            }
        } catch {
            if error.errno != ENOENT {
                CDEBUG(.rpctrace, "mgs: \(opcode) from \(request.initiator) failed: \(error)")
            }
            return .error(error)
        }
    }

    /// A config read, held until something newer exists when the client asks to wait: never
    /// longer than half the client's request timeout (so it does not resend meanwhile), and not
    /// at all when `maxWaiting` reads are held already (the client then asks again later).
    private func read(_ query: MGSConfigRequest, requestTimeout: UInt32) async throws(LustreError)
        -> FilesystemConfiguration {
        let wait = min(UInt64(query.waitMilliseconds), UInt64(requestTimeout) * 500)
        let held = wait > 0 && !stopping.withLock { $0 } && waiting.withLock { count in
            guard count < maxWaiting else { return false }
            count += 1
            return true
        }
        guard held else { return try device.configuration(fsname: query.fsname) }
        defer { waiting.withLock { $0 -= 1 } }
        return try await device.waitForChange(fsname: query.fsname, after: query.knownGeneration,
                                              timeout: .milliseconds(Int64(wait)))
    }
}
