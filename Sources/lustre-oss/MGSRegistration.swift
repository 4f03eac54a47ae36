import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The OSS's link to the MGS (the MGC's server half): registers every served target with its
/// NID (`MGS_TARGET_REG`), trying the MGS nodes in turn with back-off until one answers, so the
/// OSS serves its targets meanwhile. Registration is idempotent at the MGS, so it is repeated
/// every `refreshInterval` and at once when the MGS is seen restarting: an MGS that came back
/// with a lost or older configuration learns the targets again.
enum MGSRegistration {
    static let portals = PtlRPCService.Portals(request: Portal.mgsRequest, reply: Portal.mgcReply, bulk: Portal.mgsBulk)
    /// How often a registered OSS registers again.
    static let refreshInterval: Duration = .seconds(10)

    /// Starts registering `targets` (served at `lnet.nid`) with the MGS at `nodes`; runs until cancelled.
    static func start(lnet: LNetInstance, nodes: [NID], targets: [TargetName]) -> Task<Void, Never> {
        let restarted = RestartSignal()
        let token = lnet.addObserver { event in
            if case .restarted(let peer) = event, nodes.contains(peer.nid) { restarted.fire() }
        }
        return Task {
            defer { lnet.removeObserver(token) }
            let names = targets.map(\.description).joined(separator: ",")
            var backoff = Backoff(minimum: .seconds(1), maximum: .seconds(60), jitter: 0.1)
            var imports: [NID: PtlRPCImport] = [:]
            var registeredAt: NID?
            while !Task.isCancelled {
                var done = false
                for node in nodes where !done && !Task.isCancelled {
                    let mgc = imports[node] ?? makeImport(lnet: lnet, node: node)
                    imports[node] = mgc
                    do throws(LustreError) {
                        if mgc.status != .full { try await mgc.connect() }
                        for target in targets {
                            try await register(target, nid: lnet.nid, with: mgc)
                        }
                        if registeredAt != node {
                            LCONSOLE("\(names): registered with the MGS at \(node)")
                            registeredAt = node
                        }
                        done = true
                    } catch {
                        if registeredAt == node { registeredAt = nil }
                        CDEBUG(.config, "\(names): MGS at \(node): \(error); retrying")
                        if error.errno == EINVAL || error.errno == EPROTO {
                            CERROR("\(names): the MGS at \(node) refused the registration: \(error)")
                        }
                    }
                }
                if done {
                    backoff.reset()
                    await restarted.wait(upTo: refreshInterval)
                } else {
                    try? await Task.sleep(for: backoff.next())
                }
            }
            for mgc in imports.values { await mgc.disconnect() }
        }
    }

    private static func makeImport(lnet: LNetInstance, node: NID) -> PtlRPCImport {
        var configuration = PtlRPCImport.Configuration(portals: portals, connectOpcode: Opcode.mgsConnect,
                                                       disconnectOpcode: Opcode.mgsDisconnect)
        configuration.recoveryTimeout = 10
        configuration.checksumType = nil
        return PtlRPCImport(lnet: lnet, target: ProcessID(nid: node), targetName: "MGS", configuration: configuration)
    }

    private static func register(_ target: TargetName, nid: NID, with mgc: PtlRPCImport) async throws(LustreError) {
        let request = MGSTargetRegistration(target: target, nids: ["\(nid)"])
        let response = try await mgc.call(opcode: MGSOpcode.targetRegister.rawValue, buffers: [request.encoded()])
        guard response.reply.status >= 0 else {
            throw LustreError(status: response.reply.status, "register \(target)")
        }
    }
}

/// Wakes the registration loop early when the MGS restarts.
private final class RestartSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = (state.waiter == nil, nil) }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns after `duration` or as soon as `fire` is called (or was since the last wait).
    func wait(upTo duration: Duration) async {
        let timer = Task {
            try? await Task.sleep(for: duration)
            self.fire()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.fired {
                    state.fired = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        timer.cancel()
        state.withLock { $0.fired = false }
    }
}
