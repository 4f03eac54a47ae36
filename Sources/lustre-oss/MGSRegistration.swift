import LNet
import LibCFS
import ObdClass
import PtlRPC

/// The OSS's link to the MGS (the MGC's role): connects in the background, retrying with
/// back-off until an MGS answers, so the OSS serves its targets meanwhile. The registration RPC
/// itself belongs to the MGS, which is not written yet.
enum MGSRegistration {
    /// `MGS_BULK_PORTAL`, which PtlRPC's `Portal` does not list yet.
    static let bulkPortal: UInt32 = 27
    static let portals = PtlRPCService.Portals(request: Portal.mgsRequest, reply: Portal.mgcReply, bulk: bulkPortal)

    /// Starts trying the MGS nodes in turn; the task ends once one accepts a connection.
    static func start(lnet: LNetInstance, nodes: [NID], targets: [TargetName]) -> Task<Void, Never> {
        Task {
            let names = targets.map(\.description).joined(separator: ",")
            var backoff = Backoff(minimum: .seconds(1), maximum: .seconds(60), jitter: 0.1)
            while !Task.isCancelled {
                for node in nodes {
                    var configuration = PtlRPCImport.Configuration(portals: portals, connectOpcode: Opcode.mgsConnect,
                                                                   disconnectOpcode: Opcode.mgsDisconnect)
                    configuration.recoveryTimeout = 10
                    let mgc = PtlRPCImport(lnet: lnet, target: ProcessID(nid: node), targetName: "MGS",
                                           configuration: configuration)
                    do {
                        try await mgc.connect()
                        LCONSOLE("\(names): connected to the MGS at \(node); target registration comes with the MGS")
                        return
                    } catch {
                        CDEBUG(.config, "\(names): MGS at \(node) not reachable: \(error); retrying")
                    }
                }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }
}
