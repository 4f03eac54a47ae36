import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The management server's state (`mgs_device`): the configuration of every filesystem it
/// manages, kept durably under `CONFIGS/` of its target. Targets register (`register`),
/// clients read (`configuration`) or wait for a newer generation (`waitForChange`), and the MDS
/// in the same process subscribes to learn of OSTs as they come (`subscribe`).
public final class MGSDevice: Sendable {
    /// The target root (mount point or directory) holding `CONFIGS/`.
    public let root: String
    private let store: MGSConfigStore

    private struct State {
        var configurations: [String: FilesystemConfiguration] = [:]
        var waiters: [UInt64: (fsname: String, generation: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
        var subscribers: [UInt64: @Sendable (FilesystemConfiguration) -> Void] = [:]
        var nextID: UInt64 = 1
        /// Filesystems whose last write failed: the next registration writes again, even if it
        /// changes nothing, so a retried registration is never acknowledged without being durable.
        var unsaved: Set<String> = []
    }

    private let state = Mutex(State())
    /// Held on the writing OS thread while a file is written, so files are written in order and
    /// the last one written holds the newest configuration.
    private let writeLock = Mutex(())

    private init(root: String, configurations: [FilesystemConfiguration]) {
        self.root = root
        self.store = MGSConfigStore(root: root)
        state.withLock { state in
            for configuration in configurations { state.configurations[configuration.fsname] = configuration }
        }
    }

    /// Loads the configurations kept on the target at `root` (creating `CONFIGS/` if missing).
    public static func open(root: String) async throws(LustreError) -> MGSDevice {
        let store = MGSConfigStore(root: root)
        let loaded = await runOnOSThread(named: "mgs-io") { () -> Result<[FilesystemConfiguration], LustreError> in
            do throws(LustreError) { return .success(try store.loadAll()) } catch { return .failure(error) }
        }
        let configurations = try loaded.get()
        for configuration in configurations {
            LCONSOLE("MGS: \(configuration.fsname) generation \(configuration.generation): "
                     + "\(configuration.mdts.count) MDT(s), \(configuration.osts.count) OST(s)")
        }
        return MGSDevice(root: root, configurations: configurations)
    }

    /// The filesystems this MGS knows.
    public var fsnames: [String] { state.withLock { $0.configurations.keys.sorted() } }

    /// The configuration of `fsname`; ENOENT if no target of it ever registered here.
    public func configuration(fsname: String) throws(LustreError) -> FilesystemConfiguration {
        guard let configuration = state.withLock({ $0.configurations[fsname] }) else {
            throw Self.unknown(fsname)
        }
        return configuration
    }

    static func unknown(_ fsname: String) -> LustreError {
        LustreError(errno: ENOENT, "the MGS knows no filesystem named '\(fsname)' (no target of it has registered)")
    }

    /// Records that `target` is served at `nids`, durably, and returns the generation after it.
    /// The first target of a filesystem creates its configuration. Registering again with the
    /// same NIDs changes nothing; other NIDs replace the old ones (the server moved).
    @discardableResult
    public func register(_ target: TargetName, nids: [String]) async throws(LustreError) -> UInt64 {
        guard !nids.isEmpty, nids.count <= TargetEntry.maxNIDs else {
            throw .invalid("registration of \(target) with \(nids.count) NIDs (1...\(TargetEntry.maxNIDs))")
        }
        let changed = state.withLock { state -> FilesystemConfiguration? in
            var configuration: FilesystemConfiguration
            if let known = state.configurations[target.fsname] {
                configuration = known
            } else {
                // A new filesystem gets the `-P` parameters set for every filesystem so far, as
                // Lustre's one global params log reaches every node of the MGS.
                configuration = FilesystemConfiguration(fsname: target.fsname)
                for (_, other) in state.configurations.sorted(by: { $0.key < $1.key }) {
                    for (name, value) in other.parameters where MGSPersistentParameter.fsnamePattern(of: name) == nil {
                        if configuration.parameters[name] == nil { configuration.parameters[name] = value }
                    }
                }
            }
            let entry = TargetEntry(name: target, nids: nids)
            var list = target.kind == .mdt ? configuration.mdts : configuration.osts
            if let index = list.firstIndex(where: { $0.name == target }) {
                if list[index] == entry { return nil }
                list[index] = entry
            } else {
                list.append(entry)
                list.sort { $0.index < $1.index }
            }
            if target.kind == .mdt { configuration.mdts = list } else { configuration.osts = list }
            configuration.generation += 1
            state.configurations[target.fsname] = configuration
            return configuration
        }
        guard let changed else {
            if state.withLock({ $0.unsaved.contains(target.fsname) }) { try await persist(fsname: target.fsname) }
            return try configuration(fsname: target.fsname).generation
        }
        try await persist(fsname: target.fsname)
        LCONSOLE("MGS: registered \(target) at \(nids.joined(separator: ",")) "
                 + "(\(target.fsname) generation \(changed.generation))")
        publish(changed)
        return changed.generation
    }

    /// Sets (or with nil, removes) a `lctl set_param -P` parameter of `fsname`.
    public func setParameter(fsname: String, name: String, value: String?) async throws(LustreError) {
        guard !name.isEmpty, !name.contains(where: { $0 == "=" || $0 == "\n" || $0 == " " }),
              name.utf8.count <= FilesystemConfiguration.maxParameterNameLength,
              (value ?? "").utf8.count <= FilesystemConfiguration.maxParameterValueLength,
              !(value ?? "").contains("\n")
        else { throw .invalid("bad parameter '\(name)'") }
        let changed = try state.withLock { state throws(LustreError) -> FilesystemConfiguration in
            guard var configuration = state.configurations[fsname] else { throw Self.unknown(fsname) }
            configuration.parameters[name] = value
            configuration.generation += 1
            state.configurations[fsname] = configuration
            return configuration
        }
        try await persist(fsname: fsname)
        publish(changed)
    }

    /// Waits until `fsname`'s generation exceeds `generation` or `timeout` passes, then returns
    /// the configuration as it is (the same generation when nothing changed).
    public func waitForChange(fsname: String, after generation: UInt64, timeout: Duration) async throws(LustreError)
        -> FilesystemConfiguration {
        let current = try configuration(fsname: fsname)
        if current.generation > generation || timeout <= .zero { return current }
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.wake(id)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = state.withLock { state -> Bool in
                if let now = state.configurations[fsname], now.generation > generation { return true }
                state.waiters[id] = (fsname, generation, continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
        timer.cancel()
        return try configuration(fsname: fsname)
    }

    /// Requests held in `waitForChange` now.
    public var waitingCount: Int { state.withLock { $0.waiters.count } }

    /// Calls `handler` with every new configuration of any filesystem, in this process (the MDS
    /// feeding its object allocator). Returns a token for `unsubscribe`.
    public func subscribe(_ handler: @escaping @Sendable (FilesystemConfiguration) -> Void) -> UInt64 {
        state.withLock { state in
            defer { state.nextID += 1 }
            state.subscribers[state.nextID] = handler
            return state.nextID
        }
    }

    public func unsubscribe(_ token: UInt64) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: token) }
    }

    /// Wakes every waiter (at shutdown): they answer with what they have.
    public func wakeAll() {
        let continuations = state.withLock { state in
            defer { state.waiters = [:] }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in continuations { continuation.resume() }
    }

    private func wake(_ id: UInt64) {
        state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
    }

    private func publish(_ configuration: FilesystemConfiguration) {
        let (continuations, subscribers) = state.withLock { state in
            let ready = state.waiters.filter {
                $0.value.fsname == configuration.fsname && configuration.generation > $0.value.generation
            }
            for id in ready.keys { state.waiters[id] = nil }
            return (ready.values.map(\.continuation), Array(state.subscribers.values))
        }
        for continuation in continuations { continuation.resume() }
        for subscriber in subscribers { subscriber(configuration) }
    }

    /// Writes the newest configuration of `fsname` to its file.
    private func persist(fsname: String) async throws(LustreError) {
        let result = await runOnOSThread(named: "mgs-io") { [self] () -> Result<Void, LustreError> in
            writeLock.withLock { _ in
                guard let newest = state.withLock({ $0.configurations[fsname] }) else { return .success(()) }
                do throws(LustreError) {
                    try store.save(newest)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
        }
        do {
            try result.get()
            _ = state.withLock { $0.unsaved.remove(fsname) }
        } catch {
            _ = state.withLock { $0.unsaved.insert(fsname) }
            CERROR("MGS: cannot save the configuration of \(fsname): \(error)")
            throw error
        }
    }
}
