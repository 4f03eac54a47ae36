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
/// that disconnects has its open files closed. Counters go to `mdt.<target>.md_stats`, per job id
/// to `mdt.<target>.job_stats`, per client NID to `mdt.<target>.exports.<NID>.stats` (with
/// `.uuid`, and `num_exports`).
public final class MDTService: Sendable {
    /// The portals of the MDT service; the MDC uses the same ones.
    public static let portals = PtlRPCService.Portals(request: Portal.mdsRequest, reply: Portal.mdcReply,
                                                      bulk: Portal.mdsBulk)

    public let device: MDTDevice
    /// `mdt.<target>.md_stats`.
    public let stats: LProcStats
    /// `mdt.<target>.job_stats`.
    public let jobStats: JobStats
    /// `mdt.<target>.exports.*` and `num_exports`.
    public let exports: ObdNIDStats
    private let service: PtlRPCService
    /// `mdt.<target>`.
    private let parameterDevice: String

    /// A service for `device` on `lnet` with `threads` handler tasks (each may wait on the
    /// device's disk, so there are more of them than cores). Registers the stats.
    public init(lnet: LNetInstance, device: MDTDevice, threads: Int = 16) {
        self.device = device
        let stats = MDTServiceCounter.makeStats()
        self.stats = stats
        let parameterDevice = "mdt.\(device.target)"
        self.parameterDevice = parameterDevice
        self.jobStats = JobStats(MDTServiceCounter.declarations)
        self.exports = ObdNIDStats(device: parameterDevice, makeStats: MDTServiceCounter.makeStats)
        self.service = PtlRPCService(name: "mdt", lnet: lnet, portals: Self.portals,
                                     connectOpcode: Opcode.mdsConnect, disconnectOpcode: Opcode.mdsDisconnect,
                                     threads: threads,
                                     handler: MDTRequestHandler(device: device, stats: stats, jobStats: jobStats,
                                                                exports: exports))
        do {
            try ParamTree.shared.register("\(parameterDevice).md_stats", stats: stats)
            let service = self.service
            try ParamTree.shared.register("\(parameterDevice).recovery_status", get: {
                device.recoveryStatusText(connectedClients: service.exportCount)
            })
            // Lustre's name for how long clients have to come back (`lustre-mds --recovery-time`).
            try ParamTree.shared.register("\(parameterDevice).recovery_time_soft", get: {
                String(Int(device.options.orphanGrace.rounded(.up)))
            })
            try jobStats.register(device: parameterDevice)
            try exports.register()
        } catch {
            CWARN("\(device.target): stats not registered: \(error)")
        }
    }

    /// Starts answering requests, with `mdt.<target>.evict_client` (write a client's UUID to
    /// evict it: its open files are closed, as Lustre's).
    public func start() {
        service.start()
        try? service.registerEvictClient("\(parameterDevice).evict_client")
    }

    /// Stops answering once the requests being handled are done, and unregisters the stats.
    public func stop() async {
        ParamTree.shared.unregister("\(parameterDevice).evict_client")
        await service.stop()
        ParamTree.shared.unregister("\(parameterDevice).md_stats")
        ParamTree.shared.unregister("\(parameterDevice).recovery_status")
        ParamTree.shared.unregister("\(parameterDevice).recovery_time_soft")
        jobStats.unregister(device: parameterDevice)
        exports.unregister()
    }

    /// This start of the service: clients seeing another instance know the MDS restarted.
    public var instance: UInt64 { service.instance }

    /// Clients connected now.
    public var exportCount: Int { service.exportCount }
}
