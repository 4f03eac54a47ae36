#if canImport(Glibc)
import Glibc
#endif
import LNet
import LibCFS
import OSC
import ObdClass
import Synchronization

/// The MDT's proxy for one OST (Lustre's osp, `testfs-OST0000-osc-MDT0000`): an `OSCDevice`
/// connected in the background with retry, a pool of objects the OST precreated so that a file
/// create costs no OST round trip, the OST's statfs refreshed every `qos_maxage` for the
/// allocator, and the sender of the destroys owed to it (the OSP sync thread).
final class OSPDevice: Sendable {
    /// Whether the allocator may use the OST (Lustre's `active` plus the precreate state).
    enum Status: String, Sendable {
        /// Not connected yet since start.
        case connecting
        /// Connected, statfs known, objects can be precreated.
        case active
        /// Unreachable: skipped until it answers again.
        case inactive
        /// The OST answered ENOSPC or reports no space: skipped until statfs shows room.
        case full
    }

    /// What the allocator needs of this OST, read under one lock.
    struct Snapshot {
        var usable: Bool
        var available: UInt64
        var bytesAvailable: UInt64
    }

    private struct State {
        var pool: OSPPrecreatePool
        var status = Status.connecting
        var connected = false
        var statfs: ObdStatfs?
        var noSpace = false
        var batch: Int
        var refillRequested = false
        var filling = false
        var waitedForObjects = false
        var warnedStatus: Status?
        var stopping = false
        // Destroys: records owed to the OST, oldest first, and how many are sent but not yet
        // known committed.
        var pendingDestroys: [(record: OSPSyncRecordID, object: OSTObjectID)] = []
        var pendingHead = 0
        var destroysInFlight = 0
        /// Ids handed out whose file's MDT log record is not written yet.
        var unlogged: Set<UInt64> = []
    }

    let index: UInt32
    let target: TargetName
    let osc: OSCDevice
    let name: String
    private let options: LODDevice.Options
    /// The OST's objects between `lov_objid` and its `LAST_ID` at start are this MDT's (the OST
    /// was in `lov_objid`): claimable by replays (`OSPPrecreatePool.add`).
    private let earlierAreOurs: Bool
    private let state: Mutex<State>
    private let precreateEvent = OSPEvent()
    private let syncEvent = OSPEvent()
    /// Signalled when objects or usability change: creators waiting for objects listen.
    private let readyEvent: OSPEvent
    private let log: Mutex<OSPSyncLog?> = Mutex(nil)
    private let tasks = Mutex<[Task<Void, Never>]>([])
    /// Destroys confirmed committed, for `sync_changes`-like accounting and tests.
    private let destroysDone = Atomic<UInt64>(0)

    init(index: UInt32, target: TargetName, server: NID, lnet: LNetInstance, mdtName: String,
         lastUsed: UInt64, earlierAreOurs: Bool, options: LODDevice.Options, readyEvent: OSPEvent) throws(LustreError) {
        var configuration = OSCDevice.Configuration()
        configuration.recoveryTimeout = options.ostRecoveryTimeout
        configuration.minTimeout = min(configuration.minTimeout, options.ostRecoveryTimeout)
        configuration.obdType = "osp"
        configuration.obdUUID = "\(target.fsname)-\(mdtName)-mdtlov_UUID"
        self.index = index
        self.target = target
        self.osc = try OSCDevice(lnet: lnet, server: server, target: target, instance: mdtName,
                                 configuration: configuration)
        self.name = osc.name
        self.options = options
        self.readyEvent = readyEvent
        self.earlierAreOurs = earlierAreOurs
        self.state = Mutex(State(pool: OSPPrecreatePool(lastUsed: lastUsed), batch: options.precreateMinBatch))
        registerParameters()
    }

    deinit {
        _ = ParamTree.shared.unregister(prefix: "osp.\(name)")
    }

    private func registerParameters() {
        let prefix = "osp.\(name)."
        let values: [(String, @Sendable (OSPDevice) -> String)] = [
            ("active", { $0.state.withLock { $0.status == .active } ? "1" : "0" }),
            ("prealloc_last_id", { String($0.state.withLock { $0.pool.lastPrecreated }) }),
            ("prealloc_next_id", { String($0.state.withLock { $0.pool.lastUsed } + 1) }),
            ("create_count", { String($0.state.withLock { $0.batch }) }),
            ("max_create_count", { String($0.options.precreateMaxBatch) }),
            ("sync_changes", { String($0.pendingDestroyCount) }),
            ("destroys_in_flight", { String($0.state.withLock { $0.destroysInFlight }) }),
        ]
        for (parameter, value) in values {
            do {
                try ParamTree.shared.register(prefix + parameter, get: { [weak self] in self.map(value) ?? "" })
            } catch {
                CDEBUG(.info, "\(name): \(parameter) not registered: \(error)")
            }
        }
    }

    // MARK: Life cycle

    /// Starts connecting, precreating, refreshing statfs and sending destroys.
    func start(log: OSPSyncLog) {
        self.log.withLock { $0 = log }
        let started = [
            Task { await self.precreateLoop() },
            Task { await self.statfsLoop() },
            Task { await self.syncLoop() },
        ]
        tasks.withLock { $0 += started }
    }

    /// Stops the loops; with `drainTimeout` > 0 first gives the destroys owed that long to be
    /// sent and committed. Records not cancelled stay in the log for the next start.
    func stop(drainTimeout: Double) async {
        if drainTimeout > 0, state.withLock({ $0.connected }) {
            let deadline = MonotonicClock.nanoseconds() + UInt64(drainTimeout * 1e9)
            while pendingDestroyCount > 0, MonotonicClock.nanoseconds() < deadline {
                syncEvent.signal()
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        state.withLock { $0.stopping = true }
        let running = tasks.withLock { tasks in defer { tasks.removeAll() }; return tasks }
        for task in running { task.cancel() }
        precreateEvent.signal()
        syncEvent.signal()
        await osc.disconnect()
        for task in running { await task.value }
        log.withLock { $0 = nil }
    }

    private var stopping: Bool { state.withLock { $0.stopping } || Task.isCancelled }

    // MARK: Allocation (hot path)

    /// Usability, pool size and free space, in one lock.
    func snapshot() -> Snapshot {
        let importFull = osc.rpcImport.status == .full
        return state.withLock { state in
            let bytes = state.statfs.map { $0.blocksAvailable &* UInt64($0.blockSize) } ?? 0
            return Snapshot(usable: state.status == .active && importFull && state.pool.synchronized,
                            available: state.pool.available, bytesAvailable: bytes)
        }
    }

    /// Takes one precreated object, asking for a refill when the pool runs low.
    func reserve() -> UInt64? {
        let (id, refill) = state.withLock { state -> (UInt64?, Bool) in
            let id = state.pool.take()
            if let id { state.unlogged.insert(id) } else { state.waitedForObjects = true }
            guard !state.refillRequested, state.pool.available < UInt64(lowWater(state.batch)) else { return (id, false) }
            state.refillRequested = true
            return (id, true)
        }
        if refill { precreateEvent.signal() }
        return id
    }

    /// Takes `objectID` for a replayed create that names it (`OSPPrecreatePool.claim`); it
    /// counts as handed out and not yet logged, as `reserve` would have it.
    func claim(_ objectID: UInt64) -> Bool {
        state.withLock { state in
            guard state.pool.claim(objectID) else { return false }
            state.unlogged.insert(objectID)
            return true
        }
    }

    /// Ids at or below `objectID` are in use: never handed out.
    func noteInUse(_ objectID: UInt64) {
        state.withLock { $0.pool.noteInUse(objectID) }
    }

    /// Ids handed out are now in the MDT's log, or on their way to destruction.
    func noteLogged(_ objectIDs: [UInt64]) {
        state.withLock { state in
            for id in objectIDs { state.unlogged.remove(id) }
        }
    }

    /// Ids handed out whose file is not in the MDT's log yet.
    var unloggedIDs: [UInt64] { state.withLock { Array($0.unlogged) } }

    /// Gives back an id `claim` took for a create that could not have all its objects.
    func unclaim(_ objectID: UInt64) {
        state.withLock { state in
            state.unlogged.remove(objectID)
            state.pool.addClaimable(objectID...objectID)
        }
    }

    /// Ids a replayed create may still take back, or whose destroys are not logged yet
    /// (`OSPPrecreatePool.unreconciled`): `lov_objid_unlogged` lists them.
    var unreconciledIDs: [ClosedRange<UInt64>] { state.withLock { $0.pool.unreconciled } }

    /// Makes ids no file uses after the MDT's replay claimable by the replays of clients.
    func addClaimable(_ ids: ClosedRange<UInt64>) {
        state.withLock { $0.pool.addClaimable(ids) }
    }

    /// Ends the time for replays: the ids still claimable, for the caller to destroy and then
    /// report `expired`.
    func expireClaimable() -> [ClosedRange<UInt64>] {
        state.withLock { $0.pool.expireClaimable() }
    }

    /// The destroys of ranges `expireClaimable` returned are logged (or the ids were made
    /// claimable again).
    func expired(_ ranges: [ClosedRange<UInt64>]) {
        state.withLock { $0.pool.expired(ranges) }
    }

    /// The last id handed out, for `lov_objid`.
    var lastUsed: UInt64 { state.withLock { $0.pool.lastUsed } }

    /// The OST's statfs, nil while it is unreachable.
    var statfs: ObdStatfs? {
        let importFull = osc.rpcImport.status == .full
        return state.withLock { state in
            importFull && (state.status == .active || state.status == .full) ? state.statfs : nil
        }
    }

    var status: Status { state.withLock { $0.status } }

    private func lowWater(_ batch: Int) -> Int { max(batch / 2, options.precreateMinBatch / 2, 1) }

    // MARK: Precreation

    private func precreateLoop() async {
        var backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(5))
        while !stopping {
            if !state.withLock({ $0.connected }) {
                if FailLoc.checkValue(OSPFail.connectDelay, index) { try? await Task.sleep(for: .seconds(2)) }
                do {
                    try await osc.connect()
                    state.withLock { $0.connected = true }
                    backoff.reset()
                    syncEvent.signal()
                    continue
                } catch {
                    if stopping { return }
                    setStatus(.inactive, because: "\(error)")
                    try? await Task.sleep(for: backoff.next())
                    continue
                }
            }
            let count = state.withLock { state -> Int? in
                guard state.pool.synchronized else { return 1 }
                // Below the low-water mark, fill up to a whole batch, in RPCs short enough not
                // to stall the OSS. A fill ends once what is missing is less than one such RPC
                // or half a batch: files created while an RPC was on its way must not turn the
                // fill into a stream of RPCs of a few objects each (with an OST `LAST_ID` sync
                // apiece).
                let available = state.pool.available
                let missing = state.batch - Int(min(available, UInt64(state.batch)))
                if missing < max(1, min(options.precreateMaxPerRPC, state.batch / 2)) { state.filling = false }
                guard state.filling || available < UInt64(lowWater(state.batch)) else {
                    state.refillRequested = false
                    return nil
                }
                state.filling = true
                return min(missing, options.precreateMaxPerRPC)
            }
            guard let count else {
                await precreateEvent.wait(timeout: options.qosMaxAge)
                continue
            }
            do {
                let range = try await osc.precreate(count: min(count, Int(OSTPrecreateCount.maximum)))
                let (behind, statfsKnown) = state.withLock { state -> (Bool, Bool) in
                    let before = state.pool.available
                    state.pool.add(range, earlierAreOurs: earlierAreOurs)
                    // The pool nearly ran dry while the OST worked: bigger batches next time.
                    if state.waitedForObjects || before < UInt64(state.batch / 4) {
                        state.batch = min(state.batch * 2, options.precreateMaxBatch)
                    }
                    state.waitedForObjects = false
                    state.refillRequested = false
                    state.noSpace = false
                    return (range.upperBound <= state.pool.lastUsed, state.statfs != nil)
                }
                if behind {
                    CERROR("\(name): OST LAST_ID \(range.upperBound) is below the last object handed out; "
                           + "was the OST reformatted?")
                    try? await Task.sleep(for: .seconds(options.qosMaxAge))
                }
                if statfsKnown { setStatus(.active, because: "objects precreated") }
                readyEvent.signal()
                backoff.reset()
            } catch {
                if stopping { return }
                if error.errno == ENOSPC {
                    state.withLock { $0.noSpace = true }
                    setStatus(.full, because: "precreate: \(error)")
                    await precreateEvent.wait(timeout: options.qosMaxAge)
                } else {
                    setStatus(.inactive, because: "precreate: \(error)")
                    try? await Task.sleep(for: backoff.next())
                }
            }
        }
    }

    // MARK: Statfs

    private func statfsLoop() async {
        var lastRefresh: UInt64 = 0
        var sawDown = false
        while !stopping {
            let connected = state.withLock { $0.connected }
            let importFull = osc.rpcImport.status == .full
            if connected, !importFull {
                setStatus(.inactive, because: "connection to \(osc.server) lost")
                sawDown = true
            }
            // Back from a disconnection: refresh at once rather than at the next period.
            let due = MonotonicClock.nanoseconds() &- lastRefresh >= UInt64(options.qosMaxAge * 1e9)
                || (importFull && sawDown)
            if connected, due {
                do {
                    // While the OST is away this call also drives the import's reconnection.
                    let statfs = try await osc.statfs()
                    lastRefresh = MonotonicClock.nanoseconds()
                    sawDown = false
                    let full = statfs.blocksAvailable &* UInt64(statfs.blockSize) <= options.reservedBytes
                        || statfs.filesFree == 0
                    let ready = state.withLock { state -> Bool in
                        state.statfs = statfs
                        return state.pool.synchronized && !state.noSpace
                    }
                    if full {
                        setStatus(.full, because: "\(statfs.blocksAvailable) blocks, \(statfs.filesFree) inodes available")
                    } else if ready {
                        setStatus(.active, because: "statfs answered")
                    } else {
                        precreateEvent.signal()
                    }
                    readyEvent.signal()
                } catch {
                    if stopping { return }
                    lastRefresh = MonotonicClock.nanoseconds()
                    sawDown = true
                    setStatus(.inactive, because: "statfs: \(error)")
                }
            }
            // The import's state is checked often (no RPC); statfs itself every qos_maxage.
            try? await Task.sleep(for: .milliseconds(Int64(min(options.qosMaxAge, 0.5) * 1000)))
        }
    }

    /// Changes the status, with one console line per change that matters to admins.
    private func setStatus(_ status: Status, because reason: String) {
        let (changed, previous) = state.withLock { state -> (Bool, Status) in
            let previous = state.status
            guard previous != status else { return (false, previous) }
            state.status = status
            return (true, previous)
        }
        guard changed else { return }
        readyEvent.signal()
        switch status {
        case .inactive:
            CWARN("\(name): OST \(target) unreachable (\(reason)): object allocation skips it")
        case .full:
            CWARN("\(name): OST \(target) is out of space (\(reason)): object allocation skips it")
        case .active where previous != .connecting:
            CWARN("\(name): OST \(target) usable again")
        case .active, .connecting:
            CDEBUG(.info, "\(name): \(previous.rawValue) -> \(status.rawValue): \(reason)")
        }
    }

    // MARK: Destroys (the OSP sync thread)

    /// Hands records to the sender; they are already durable in the log.
    func enqueueDestroys(_ records: [(record: OSPSyncRecordID, object: OSTObjectID)]) {
        guard !records.isEmpty else { return }
        state.withLock { $0.pendingDestroys += records }
        syncEvent.signal()
    }

    /// Destroys owed to the OST: logged and not yet known committed.
    var pendingDestroyCount: Int {
        state.withLock { $0.pendingDestroys.count - $0.pendingHead + $0.destroysInFlight }
    }

    /// Destroys confirmed committed by the OST since start.
    var committedDestroys: UInt64 { destroysDone.load(ordering: .relaxed) }

    private struct SentDestroy {
        var record: OSPSyncRecordID
        var object: OSTObjectID
        /// The reply's transno; nil when the OST answered ENOENT (already gone).
        var transno: UInt64?
        var restarts: UInt64
        var sentAt: UInt64
    }

    private func syncLoop() async {
        var uncommitted: [SentDestroy] = []
        var backoff = Backoff(minimum: .milliseconds(100), maximum: .seconds(5))
        while !stopping {
            let connected = state.withLock { $0.connected }
            let batch: [(record: OSPSyncRecordID, object: OSTObjectID)] = connected ? state.withLock { state in
                let end = min(state.pendingDestroys.count, state.pendingHead + options.destroyBatch)
                let batch = Array(state.pendingDestroys[state.pendingHead..<end])
                state.pendingHead = end
                state.destroysInFlight += batch.count
                if state.pendingHead == state.pendingDestroys.count {
                    state.pendingDestroys.removeAll(keepingCapacity: true)
                    state.pendingHead = 0
                }
                return batch
            } : []
            if batch.isEmpty, uncommitted.isEmpty {
                await syncEvent.wait(timeout: options.qosMaxAge)
                continue
            }
            if !batch.isEmpty {
                let (sent, failed) = await send(batch)
                uncommitted += sent
                if !failed.isEmpty {
                    requeue(failed)
                    if stopping { return }
                    try? await Task.sleep(for: backoff.next())
                } else {
                    backoff.reset()
                }
            }
            uncommitted = cancelCommitted(uncommitted)
            guard !uncommitted.isEmpty else { continue }
            let morePending = state.withLock { $0.pendingDestroys.count > $0.pendingHead }
            if morePending, uncommitted.count < options.destroyBatch * 4 { continue }
            // Nothing else to send: let the OST's own commit catch up, then force it.
            let oldest = uncommitted.map(\.sentAt).min() ?? 0
            let age = Double(MonotonicClock.nanoseconds() &- oldest) / 1e9
            let waitsForSync = uncommitted.contains { $0.transno == nil }
            if age < options.destroyCommitWait, !waitsForSync, !morePending {
                await syncEvent.wait(timeout: options.destroyCommitWait - age)
                continue
            }
            do {
                let restarts = osc.serverRestarts
                let committed = try await osc.sync()
                uncommitted = cancelCommitted(uncommitted, syncedAt: committed, restarts: restarts)
            } catch {
                if stopping { return }
                CDEBUG(.ha, "\(name): sync for destroys failed: \(error)")
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Sends destroys, many objects per RPC (`OSTDestroyBatch`), at most `max_rpcs_in_flight`
    /// RPCs at once: the batch is cut into that many RPCs, none over the batch limit.
    private func send(_ batch: [(record: OSPSyncRecordID, object: OSTObjectID)]) async
        -> (sent: [SentDestroy], failed: [(record: OSPSyncRecordID, object: OSTObjectID)]) {
        let osc = self.osc
        let restarts = osc.serverRestarts
        let window = max(1, osc.maxRPCsInFlight.value)
        let perRPC = min(OSTDestroyBatch.maxObjects, max(1, (batch.count + window - 1) / window))
        let chunks = stride(from: 0, to: batch.count, by: perRPC).map { Array(batch[$0..<min($0 + perRPC, batch.count)]) }
        // Each child returns the records it sent (no index into `batch` crosses the task
        // boundary: release builds trapped on `batch[index]` with the index a child returned).
        typealias Chunk = [(record: OSPSyncRecordID, object: OSTObjectID)]
        return await withTaskGroup(of: (Chunk, Result<(statuses: [Int32], transno: UInt64), LustreError>).self) { group in
            var sent: [SentDestroy] = []
            var failed: [(record: OSPSyncRecordID, object: OSTObjectID)] = []
            var next = 0
            var running = 0
            while true {
                // Keep `window` RPCs in flight; after a failure start no more.
                while next < chunks.count, running < window, failed.isEmpty {
                    let chunk = chunks[next]
                    next += 1
                    running += 1
                    group.addTask {
                        do throws(LustreError) {
                            return (chunk, .success(try await osc.destroy(chunk.map(\.object))))
                        } catch {
                            return (chunk, .failure(error))
                        }
                    }
                }
                guard let (chunk, result) = await group.next() else { break }
                running -= 1
                switch result {
                case .success(let (statuses, transno)):
                    let now = MonotonicClock.nanoseconds()
                    for (item, status) in zip(chunk, statuses) {
                        if status == 0 || status == -ENOENT {
                            // ENOENT: already gone; nil makes the sync loop ask for a commit first.
                            sent.append(SentDestroy(record: item.record, object: item.object,
                                                    transno: status == 0 ? transno : nil,
                                                    restarts: restarts, sentAt: now))
                        } else {
                            if failed.isEmpty {
                                CDEBUG(.ha, "\(name): destroy of \(item.object) failed: \(LustreError(status: status, "destroy"))")
                            }
                            failed.append(item)
                        }
                    }
                case .failure(let error):
                    if failed.isEmpty { CDEBUG(.ha, "\(name): destroy of \(chunk.count) objects failed: \(error)") }
                    failed += chunk
                }
            }
            // After a failure the rest of the batch waits for the next round.
            for chunk in chunks[next...] { failed += chunk }
            return (sent, failed)
        }
    }

    private func requeue(_ records: [(record: OSPSyncRecordID, object: OSTObjectID)]) {
        state.withLock { state in
            state.pendingDestroys.insert(contentsOf: records, at: state.pendingHead)
            state.destroysInFlight -= records.count
        }
    }

    /// Cancels the records whose destroy the OST has committed; returns the rest. Destroys
    /// answered by an OST instance that has since restarted are sent again (their transnos
    /// mean nothing now); ENOENT answers wait for a sync (`syncedAt`).
    private func cancelCommitted(_ sent: [SentDestroy], syncedAt: UInt64? = nil, restarts syncRestarts: UInt64? = nil)
        -> [SentDestroy] {
        let committed = osc.lastCommitted
        let restarts = osc.serverRestarts
        var done: [OSPSyncRecordID] = []
        var resend: [(record: OSPSyncRecordID, object: OSTObjectID)] = []
        var rest: [SentDestroy] = []
        for item in sent {
            if item.restarts != restarts {
                resend.append((item.record, item.object))
            } else if let transno = item.transno, transno <= committed {
                done.append(item.record)
            } else if syncedAt != nil, syncRestarts == restarts, item.transno.map({ $0 <= syncedAt! }) ?? true {
                done.append(item.record)
            } else {
                rest.append(item)
            }
        }
        if !done.isEmpty {
            log.withLock { $0 }?.cancel(done)
            state.withLock { $0.destroysInFlight -= done.count }
            destroysDone.add(UInt64(done.count), ordering: .relaxed)
        }
        if !resend.isEmpty { requeue(resend) }
        return rest
    }
}
