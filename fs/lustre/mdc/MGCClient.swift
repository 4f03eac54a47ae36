import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client's view of the MGS (Lustre's MGC): fetches a filesystem's configuration for a
/// mount, and watches it so OSTs added while mounted are learnt.
///
/// Watching is a long poll: each `MGS_CONFIG_READ` names the generation the client has and asks
/// the MGS to hold the request until a newer one exists. The MGS holds it at most half the
/// request timeout (so the import never resends it meanwhile) and answers at once when too many
/// are held, so the loop degrades to polling every `pollInterval` rather than piling up.
public final class MGCClient: Sendable {
    /// The MGS nodes, tried in turn (failover pairs).
    public let nodes: [NID]
    private let lnet: LNetInstance
    private let imports: Mutex<[NID: PtlRPCImport]> = Mutex([:])
    /// The node that answered last: tried first next time.
    private let preferred = Mutex(0)
    /// How long one fetch keeps trying a node through reconnects.
    public let recoveryTimeout: Double
    /// How long the MGS is asked to hold a watch request.
    static let watchWaitMilliseconds: UInt32 = 10_000
    /// Lower bound of the MGC's request timeout: above twice the longest hold.
    static let minTimeout: Double = 25
    /// Pause between watch requests when the MGS answered without holding, or failed.
    static let pollInterval: Duration = .seconds(1)

    /// An MGC for the MGS at `nodes`; nothing is sent until a fetch.
    public init(lnet: LNetInstance, nodes: [NID], recoveryTimeout: Double = 30) {
        self.lnet = lnet
        self.nodes = nodes
        self.recoveryTimeout = recoveryTimeout
    }

    /// Connects and fetches the configuration of `fsname`. ENOENT when the MGS knows no such
    /// filesystem; ETIMEDOUT or a connection error when no MGS node answers.
    public func fetch(fsname: String) async throws(LustreError) -> FilesystemConfiguration {
        try await read(MGSConfigRequest(fsname: fsname))
    }

    /// Calls `onChange` with each configuration of `fsname` newer than `knownGeneration` (the
    /// first one at once if the MGS has something newer), until the task is cancelled. Errors
    /// (MGS down, filesystem unknown) are logged and retried with back-off.
    public func watch(fsname: String, knownGeneration: UInt64 = 0,
                      onChange: @escaping @Sendable (FilesystemConfiguration) -> Void) -> Task<Void, Never> {
        Task {
            var known = knownGeneration
            var backoff = Backoff(minimum: Self.pollInterval, maximum: .seconds(30), jitter: 0.1)
            while !Task.isCancelled {
                let started = ContinuousClock.now
                do throws(LustreError) {
                    let configuration = try await read(MGSConfigRequest(fsname: fsname, knownGeneration: known,
                                                                        waitMilliseconds: Self.watchWaitMilliseconds))
                    backoff.reset()
                    if configuration.generation > known {
                        known = configuration.generation
                        if Task.isCancelled { return }
                        onChange(configuration)
                        continue
                    }
                    // Answered at once with nothing new: the MGS did not hold the request.
                    if ContinuousClock.now - started < .milliseconds(500) {
                        try? await Task.sleep(for: Self.pollInterval)
                    }
                } catch {
                    if Task.isCancelled { return }
                    CDEBUG(.config, "MGC: watching \(fsname): \(error); retrying")
                    try? await Task.sleep(for: backoff.next())
                }
            }
        }
    }

    /// `MGC<nid>` of the MGS node in use, as Lustre names the MGC device.
    public var deviceName: String { nodes.isEmpty ? "MGC" : "MGC\(nodes[preferred.withLock { $0 }])" }

    /// Pings the MGS node in use (`lfs check mgts`), connecting first if needed.
    public func ping(timeout: Double) async throws(LustreError) {
        guard !nodes.isEmpty else { throw .invalid("no MGS node given") }
        let node = nodes[preferred.withLock { $0 }]
        do throws(LustreError) {
            try await connectedImport(node, timeout: timeout).ping(timeout: timeout)
        } catch {
            dropImport(node)
            throw error
        }
    }

    /// Says goodbye to every MGS node connected.
    public func disconnect() async {
        let all = imports.withLock { imports in
            defer { imports = [:] }
            return Array(imports.values)
        }
        for rpcImport in all { await rpcImport.disconnect() }
    }

    private func read(_ query: MGSConfigRequest) async throws(LustreError) -> FilesystemConfiguration {
        guard !nodes.isEmpty else { throw .invalid("no MGS node given") }
        let start = preferred.withLock { $0 }
        var lastError = LustreError(errno: EHOSTUNREACH, "no MGS node answered")
        for offset in 0..<nodes.count {
            let index = (start + offset) % nodes.count
            let node = nodes[index]
            do throws(LustreError) {
                let rpcImport = try await connectedImport(node)
                let response = try await rpcImport.call(opcode: MGSOpcode.configRead.rawValue,
                                                        buffers: [query.encoded()], recoveryTimeout: recoveryTimeout)
                let status = response.reply.status
                if status == -ENOENT {
                    throw LustreError(errno: ENOENT, "MGS at \(node) knows no filesystem named '\(query.fsname)'")
                }
                guard status >= 0 else {
                    throw LustreError(status: status, "MGS at \(node): config read of \(query.fsname)")
                }
                var body = try response.reply.buffer(0, "configuration")
                let configuration = try FilesystemConfiguration(decoding: &body)
                guard configuration.fsname == query.fsname else {
                    throw .protocolError("MGS at \(node) answered the configuration of \(configuration.fsname)")
                }
                preferred.withLock { $0 = index }
                return configuration
            } catch {
                // An answer from an MGS is final; only an unreachable node sends us to the next.
                if error.errno == ENOENT || error.errno == EPROTO || error.errno == EINVAL { throw error }
                lastError = error
                dropImport(node)
            }
        }
        throw lastError
    }

    /// The import to `node`, connected first if new; `timeout` bounds that connect (a ping's
    /// few seconds rather than the MGC's long request timeout).
    private func connectedImport(_ node: NID, timeout: Double? = nil) async throws(LustreError) -> PtlRPCImport {
        if let existing = imports.withLock({ $0[node] }) { return existing }
        var configuration = PtlRPCImport.Configuration(portals: Self.portals, connectOpcode: Opcode.mgsConnect,
                                                       disconnectOpcode: Opcode.mgsDisconnect)
        configuration.minTimeout = Self.minTimeout
        configuration.recoveryTimeout = recoveryTimeout
        configuration.checksumType = nil
        let rpcImport = PtlRPCImport(lnet: lnet, target: ProcessID(nid: node), targetName: Self.targetName,
                                     configuration: configuration)
        do {
            try await rpcImport.connect(timeout: timeout)
        } catch {
            await rpcImport.disconnect()
            throw error.adding(context: "connect to the MGS at \(node)")
        }
        let winner = imports.withLock { imports -> PtlRPCImport? in
            if let other = imports[node] { return other }
            imports[node] = rpcImport
            return nil
        }
        if let winner {
            await rpcImport.disconnect()
            return winner
        }
        return rpcImport
    }

    private func dropImport(_ node: NID) {
        if let gone = imports.withLock({ $0.removeValue(forKey: node) }) {
            Task { await gone.disconnect() }
        }
    }

    /// The MGS portals (the MGS service listens on the same).
    public static let portals = PtlRPCService.Portals(request: Portal.mgsRequest, reply: Portal.mgcReply,
                                                      bulk: Portal.mgsBulk)
    /// The target name an MGS answers to.
    public static let targetName = "MGS"
}
