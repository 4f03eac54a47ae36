import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC

#if canImport(Glibc)
import Glibc
#endif

/// The MDT's RPC service (`mdt` in Lustre): one `PtlRPCService` on the MDS portals answering
/// every metadata request of the MDC for one `MDTDevice`. Replies carry the transno of the
/// change and `last_committed` of the device, so clients replay what a restart lost. An export
/// that disconnects has its open files closed. Counters go to `mdt.<target>.md_stats`.
public final class MDTService: Sendable {
    /// The portals of the MDT service; the MDC uses the same ones.
    public static let portals = PtlRPCService.Portals(request: Portal.mdsRequest, reply: Portal.mdcReply,
                                                      bulk: Portal.mdsBulk)

    public let device: MDTDevice
    /// `mdt.<target>.md_stats`.
    public let stats: LProcStats
    private let service: PtlRPCService
    private let statsParameter: String

    /// A service for `device` on `lnet` with `threads` handler tasks (each may wait on the
    /// device's disk, so there are more of them than cores). Registers the stats.
    public init(lnet: LNetInstance, device: MDTDevice, threads: Int = 16) {
        self.device = device
        let stats = MDTServiceCounter.makeStats()
        self.stats = stats
        self.service = PtlRPCService(name: "mdt", lnet: lnet, portals: Self.portals,
                                     connectOpcode: Opcode.mdsConnect, disconnectOpcode: Opcode.mdsDisconnect,
                                     threads: threads, handler: MDTRequestHandler(device: device, stats: stats))
        self.statsParameter = "mdt.\(device.target).md_stats"
        do {
            try ParamTree.shared.register(statsParameter, stats: stats)
        } catch {
            CWARN("\(device.target): md_stats not registered: \(error)")
        }
    }

    public func start() { service.start() }

    /// Stops answering once the requests being handled are done, and unregisters the stats.
    public func stop() async {
        await service.stop()
        _ = ParamTree.shared.unregister(statsParameter)
    }

    /// This start of the service: clients seeing another instance know the MDS restarted.
    public var instance: UInt64 { service.instance }

    /// Clients connected now.
    public var exportCount: Int { service.exportCount }
}
