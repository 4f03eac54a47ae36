#if canImport(Glibc)
import Glibc
#endif
import LNet
import LibCFS
import ObdClass
import Synchronization

/// The MDT's object allocator (Lustre's lod + osp): one `OSPDevice` per OST with a pool of
/// precreated objects, stripes placed by free space as Lustre's QOS does, `lov_objid` on the
/// MDT root, and a persistent log of the destroys owed to OSTs (`OSPSyncLog`).
///
/// Order of use: `init`, `addOST` for the OSTs known (more may be added while running),
/// `start()` (replays the destroy log), then hand it to `MDTDevice.open`, whose log replay calls
/// `noteInUse`; `stop()` at the end.
public final class LODDevice: MDTObjectAllocator {
    /// Settings fixed at creation; Lustre's names in brackets.
    public struct Options: Sendable {
        /// The index of the MDT this LOD serves (names the OSP devices `…-osc-MDT0000`).
        public var mdtIndex: UInt32 = 0
        /// Round-robin while free space differs by at most this fraction (`qos_threshold_rr`, 17%).
        public var qosThresholdRR: Double = 0.17
        /// Seconds between statfs refreshes of each OST (`qos_maxage`).
        public var qosMaxAge: Double = 5
        /// First precreate batch (`OST_MIN_PRECREATE`); batches double while demand outruns them.
        public var precreateMinBatch = 32
        /// Largest precreate batch (`max_create_count`): the pool is filled up to the batch
        /// whenever it falls below half of it.
        public var precreateMaxBatch = 20_000
        /// Objects asked for in one precreate RPC, so that no single RPC keeps the OSS busy for long.
        public var precreateMaxPerRPC = 2048
        /// How long `allocate` waits for objects (start-up, an empty pool) before ENOSPC.
        public var createTimeout: Double = 30
        /// How long an RPC to an OST keeps retrying through reconnects before it fails.
        public var ostRecoveryTimeout: Double = 30
        /// Destroys taken per round by an OST's sender.
        public var destroyBatch = 256
        /// Seconds a sent destroy waits for the OST's own commit before the sender asks for a sync.
        public var destroyCommitWait: Double = 2
        /// An OST with this many bytes available or fewer counts as full.
        public var reservedBytes: UInt64 = 0
        /// How long `stop()` lets destroys owed be sent and committed.
        public var stopDrainTimeout: Double = 5
        /// Records per segment file of the destroy log.
        public var syncLogRecordsPerSegment = 4096
        /// Seconds after the MDT's log replay during which objects no file uses, of creates
        /// the MDT may have lost, wait for their clients to replay the create and take them
        /// back (with the data written there) before they are destroyed: Lustre's recovery
        /// window, after which its OSP cleans up orphans.
        public var replayClaimGrace: Double = 60

        public init() {}

        func validate() throws(LustreError) {
            guard (0...1).contains(qosThresholdRR) else { throw .invalid("qos_threshold_rr \(qosThresholdRR) out of 0...1") }
            guard qosMaxAge > 0, createTimeout >= 0, ostRecoveryTimeout > 0, destroyCommitWait >= 0, stopDrainTimeout >= 0,
                  replayClaimGrace >= 0 else {
                throw .invalid("LOD timeouts must be positive")
            }
            guard precreateMinBatch >= 1, precreateMaxBatch >= precreateMinBatch,
                  precreateMaxBatch <= Int(OSTPrecreateCount.maximum) else {
                throw .invalid("precreate batch \(precreateMinBatch)...\(precreateMaxBatch) (1...\(OSTPrecreateCount.maximum))")
            }
            guard precreateMaxPerRPC >= 1 else { throw .invalid("precreate of \(precreateMaxPerRPC) objects per RPC") }
            guard destroyBatch >= 1 else { throw .invalid("destroy batch \(destroyBatch)") }
        }
    }

    private typealias PendingDestroy = (record: OSPSyncRecordID, object: OSTObjectID)

    private struct State {
        /// Sorted by index.
        var osps: [OSPDevice] = []
        var lovObjid: [UInt64]
        /// `noteInUse` for OSTs not added yet.
        var noted: [UInt32: UInt64] = [:]
        /// Logged destroys for OSTs not added yet.
        var unassigned: [UInt32: [PendingDestroy]] = [:]
        var log: OSPSyncLog?
        /// Reconciliation at start (see `replayFinished`): `lov_objid` as read, the ranges of
        /// `lov_objid_unlogged`, and what the MDT's replay noted in use of them or above.
        var initialObjid: [UInt64] = []
        var candidates: [UInt32: [ClosedRange<UInt64>]] = [:]
        var replaySeen: [UInt32: Set<UInt64>] = [:]
        var replayHighest: [UInt32: UInt64] = [:]
        var replayDone = false
        /// Destroys read from the log at a `start(holdingLoggedDestroys: true)`, sent once the
        /// MDT's replay tells which of them a file still uses (`replayFinished(referenced:)`).
        var held: [(id: OSPSyncRecordID, record: OSPSyncRecord)] = []
        var started = false
        var stopped = false
        /// The MDT's `lastCommitted` as last told, and destroys waiting for it to reach the
        /// transno of their operation.
        var mdtCommitted: UInt64 = 0
        var awaitingCommit: [(transno: UInt64, items: [(ostIndex: UInt32, destroy: PendingDestroy)])] = []
        /// Destroys the ids no replay claimed once `replayClaimGrace` has passed.
        var claimExpiry: Task<Void, Never>?
    }

    /// The MDT root holding `lov_objid` and the destroy log.
    public let root: String
    public let fsname: String
    /// `testfs-MDT0000-mdtlov`, the device name under `lod.` in the parameter tree.
    public let name: String
    private let lnet: LNetInstance
    private let options: Options
    private let mdtName: String
    private let state: Mutex<State>
    private let qos: Mutex<LODQOS>
    private let readyEvent = OSPEvent()
    /// Serializes `lov_objid` writers, so a later checkpoint never lands before an earlier one.
    private let checkpointGate = Mutex<(running: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// Entries of `lov_objid` at init: those OSTs' precreated objects above them are ours to reuse.
    private let knownOSTs: Int
    /// The device's row in `lctl dl` (`lod testfs-MDT0000-mdtlov testfs-MDT0000-mdtlov_UUID`).
    private let obdDevice: ObdDeviceRegistration

    /// A LOD for the MDT whose target root is `root`; reads `lov_objid` (EUCLEAN if damaged).
    public init(lnet: LNetInstance, root: String, fsname: String, options: Options = Options()) throws(LustreError) {
        try options.validate()
        let mdt = try TargetName(fsname: fsname, kind: .mdt, index: options.mdtIndex)
        let lovObjid = try LODObjectIDFile.read(root: root)
        let candidates = try LODUnloggedObjectsFile.read(root: root)
        self.lnet = lnet
        self.root = root
        self.fsname = fsname
        self.options = options
        self.mdtName = "MDT" + Self.hex4(options.mdtIndex)
        self.name = "\(mdt)-mdtlov"
        self.obdDevice = ObdDeviceRegistry.shared.register(type: "lod", name: "\(mdt)-mdtlov", uuid: "\(mdt)-mdtlov_UUID")
        self.knownOSTs = lovObjid.count
        var initial = State(lovObjid: lovObjid)
        initial.initialObjid = lovObjid
        initial.candidates = candidates
        self.state = Mutex(initial)
        self.qos = Mutex(LODQOS(thresholdRR: options.qosThresholdRR))
        registerParameters()
    }

    deinit {
        obdDevice.unregister()
        _ = ParamTree.shared.unregister(prefix: "lod.\(name)")
    }

    private static func hex4(_ value: UInt32) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: max(0, 4 - text.count)) + text
    }

    private func registerParameters() {
        let prefix = "lod.\(name)."
        let threshold = options.qosThresholdRR, maxAge = options.qosMaxAge
        let values: [(String, @Sendable () -> String)] = [
            ("qos_threshold_rr", { "\(Int((threshold * 100).rounded()))%" }),
            ("qos_maxage", { "\(Int(maxAge)) Sec" }),
            ("numobd", { [weak self] in String(self?.ostCount ?? 0) }),
            ("activeobd", { [weak self] in String(self?.usableOSTCount ?? 0) }),
        ]
        for (parameter, get) in values {
            do {
                try ParamTree.shared.register(prefix + parameter, get: get)
            } catch {
                CDEBUG(.info, "\(name): \(parameter) not registered: \(error)")
            }
        }
    }

    private var osps: [OSPDevice] { state.withLock { $0.osps } }

    // MARK: Configuration

    /// Adds the OST `index` served at `nids` (the first is used): its OSP starts connecting and
    /// precreating at once if the LOD is started. Adding an index again changes nothing.
    public func addOST(index: UInt32, nids: [NID]) throws(LustreError) {
        guard index <= LODObjectIDFile.maxOSTIndex else { throw .invalid("OST index \(index) above \(LODObjectIDFile.maxOSTIndex)") }
        guard let server = nids.first else { throw .invalid("OST \(index) added without a NID") }
        let target = try TargetName(fsname: fsname, kind: .ost, index: index)
        let added: (OSPDevice, [PendingDestroy], OSPSyncLog?)? = try state.withLock { state throws(LustreError) in
            guard !state.stopped else { throw LustreError(errno: ESHUTDOWN, "\(name) stopped") }
            if state.osps.contains(where: { $0.index == index }) { return nil }
            let known = Int(index) < state.lovObjid.count ? state.lovObjid[Int(index)] : 0
            let osp = try OSPDevice(index: index, target: target, server: server, lnet: lnet, mdtName: mdtName,
                                    lastUsed: max(known, state.noted[index] ?? 0),
                                    earlierAreOurs: Int(index) < knownOSTs, options: options, readyEvent: readyEvent)
            state.noted[index] = nil
            let position = state.osps.firstIndex { $0.index > index } ?? state.osps.count
            state.osps.insert(osp, at: position)
            return (osp, state.unassigned.removeValue(forKey: index) ?? [], state.started ? state.log : nil)
        }
        guard let (osp, pending, log) = added else { return }
        LCONSOLE("\(name): added \(target) at \(server)")
        osp.enqueueDestroys(pending)
        if let log { osp.start(log: log) }
    }

    /// Replays the destroy log, writes `lov_objid` and starts every OSP. With
    /// `holdingLoggedDestroys` (an MDT will replay its log and call `replayFinished`), the
    /// destroys read from the log wait for that call: a power loss can keep a destroy record
    /// while losing the MDT log record of the unlink it belongs to, and such a file is still
    /// there and must keep its objects.
    public func start(holdingLoggedDestroys: Bool = false) async throws(LustreError) {
        let opened = try OSPSyncLog.open(directory: "\(root)/\(Self.syncLogDirectory)",
                                         recordsPerSegment: options.syncLogRecordsPerSegment)
        let toStart: [OSPDevice]? = state.withLock { state in
            guard !state.started, !state.stopped else { return nil }
            state.started = true
            state.log = opened.log
            return state.osps
        }
        guard let toStart else {
            opened.log.close()
            throw LustreError(errno: EALREADY, "\(name) already started or stopped")
        }
        if !opened.live.isEmpty {
            LCONSOLE("\(name): \(opened.live.count) object destroys pending from the log")
        }
        // An object waiting for its destroy was handed out: never hand it out again.
        noteInUse(opened.live.map { LayoutObject(ostIndex: $0.record.ostIndex, id: $0.record.object) })
        if holdingLoggedDestroys {
            state.withLock { $0.held = opened.live }
        } else {
            dispatch(opened.live.map { ($0.record.ostIndex, ($0.id, $0.record.object)) })
        }
        try await checkpoint()
        for osp in toStart { osp.start(log: opened.log) }
    }

    /// Stops the OSPs (letting owed destroys drain for `stopDrainTimeout`), writes `lov_objid`
    /// and closes the log. Destroys not yet committed are sent after the next start.
    public func stop() async {
        await shutdown(drainTimeout: options.stopDrainTimeout, writeObjectIDs: true)
    }

    /// As a crash: nothing drained, `lov_objid` not written (tests).
    func crash() async {
        await shutdown(drainTimeout: 0, writeObjectIDs: false)
    }

    private func shutdown(drainTimeout: Double, writeObjectIDs: Bool) async {
        let stopping = state.withLock { state -> (osps: [OSPDevice], expiry: Task<Void, Never>?)? in
            guard !state.stopped else { return nil }
            state.stopped = true
            defer { state.claimExpiry = nil }
            return (state.osps, state.claimExpiry)
        }
        guard let (osps, expiry) = stopping else { return }
        expiry?.cancel()
        await expiry?.value
        await withTaskGroup(of: Void.self) { group in
            for osp in osps { group.addTask { await osp.stop(drainTimeout: drainTimeout) } }
        }
        if writeObjectIDs {
            do {
                try await writeObjectIDFile()
            } catch {
                CERROR("\(name): lov_objid not written at stop: \(error)")
            }
        }
        state.withLock { $0.log }?.close()
        readyEvent.signal()
    }

    /// The destroy log's directory under the MDT root.
    public static let syncLogDirectory = "osp_sync"

    // MARK: MDTObjectAllocator

    public var ostCount: Int { state.withLock { $0.osps.count } }

    public func allocate(for fid: LustreFID, layout: LustreLayout) async throws(LustreError) -> LustreLayout {
        guard layout.stripeCount == LustreLayout.stripeCountAll || Int(layout.stripeCount) <= LustreLayout.maxStripeCount else {
            throw .invalid("stripe count \(layout.stripeCount) above \(LustreLayout.maxStripeCount)")
        }
        let deadline = MonotonicClock.nanoseconds() + UInt64(options.createTimeout * 1e9)
        let requested = layout.stripeCount == LustreLayout.stripeCountAll ? Int.max : max(Int(layout.stripeCount), 1)
        let offset: UInt32? = layout.stripeOffset == LustreLayout.stripeOffsetAny ? nil : UInt32(layout.stripeOffset)
        var (usable, pending) = try usableOSTs(waitingUntil: deadline)
        // Right after start, OSTs still connecting are waited for rather than left out; so is
        // the OST a stripe offset names while it connects or fills its pool (else `setstripe -i 1`
        // at mount time lands on OST 0). An OST that is down is not waited for.
        while MonotonicClock.nanoseconds() < deadline,
              (pending.connecting && usable.count < requested) || offset.map({ pending.indexes.contains($0) }) == true {
            let remaining = Double(deadline &- MonotonicClock.nanoseconds()) / 1e9
            await readyEvent.wait(timeout: min(0.2, max(remaining, 0.001)))
            (usable, pending) = try usableOSTs(waitingUntil: deadline)
        }
        let wanted = layout.stripeCount == LustreLayout.stripeCountAll
            ? usable.count : min(max(Int(layout.stripeCount), 1), usable.count)
        let targets = usable.map { LODQOS.Target(index: $0.osp.index, bytesAvailable: $0.snapshot.bytesAvailable) }
        let chosen = qos.withLock { $0.choose(count: wanted, offset: offset, among: targets) }
        var objects: [LayoutObject] = []
        objects.reserveCapacity(chosen.count)
        for index in chosen {
            guard let osp = usable.first(where: { $0.osp.index == index })?.osp else { continue }
            // Nearly always the pool has one; otherwise its refill is under way.
            if let oid = await take(from: osp, deadline: deadline, others: usable) {
                objects.append(LayoutObject(ostIndex: index, id: OSTObjectID(sequence: OSTObjectID.mdt0Sequence, objectID: oid)))
            }
        }
        if objects.count < chosen.count {
            // An OST could not deliver in time: any other with objects takes its stripe.
            for (osp, _) in usable where objects.count < chosen.count && !objects.contains(where: { $0.ostIndex == osp.index }) {
                if let oid = osp.reserve() {
                    objects.append(LayoutObject(ostIndex: osp.index, id: OSTObjectID(sequence: OSTObjectID.mdt0Sequence, objectID: oid)))
                }
            }
        }
        guard !objects.isEmpty else {
            throw LustreError(errno: ENOSPC, "\(name): no precreated objects on any usable OST")
        }
        var result = layout
        result.fid = fid
        result.objects = objects
        result.stripeCount = UInt16(objects.count)
        result.stripeOffset = UInt16(truncatingIfNeeded: objects[0].ostIndex)
        return result
    }

    private typealias UsableOST = (osp: OSPDevice, snapshot: OSPDevice.Snapshot)

    /// The OSTs usable now, and whether others are still coming up (connecting since start);
    /// ENOSPC if none is usable and none is coming or `deadline` has passed.
    private func usableOSTs(waitingUntil deadline: UInt64) throws(LustreError)
        -> (usable: [UsableOST], pending: (connecting: Bool, indexes: Set<UInt32>)) {
        let osps = state.withLock { state -> [OSPDevice]? in state.stopped ? nil : state.osps }
        guard let osps else { throw LustreError(errno: ESHUTDOWN, "\(name) stopped") }
        var usable: [UsableOST] = []
        usable.reserveCapacity(osps.count)
        var coming = false, recovering = false
        var pending: Set<UInt32> = []
        for osp in osps {
            let snapshot = osp.snapshot()
            if snapshot.usable {
                usable.append((osp, snapshot))
            } else {
                switch osp.status {
                case .connecting: coming = true
                case .active: recovering = true     // reconnecting, or its pool not synchronized yet
                case .inactive, .full: continue
                }
                pending.insert(osp.index)
            }
        }
        guard usable.isEmpty, !(coming || recovering) || MonotonicClock.nanoseconds() >= deadline else {
            return (usable, (coming, pending))
        }
        throw LustreError(errno: ENOSPC, "\(name): no OST can take new objects (\(osps.count) configured)")
    }

    /// One id from `osp`, waiting for its refill while it stays usable, up to `deadline`; after
    /// `qos_maxage` (at least 2 s: an OST whose refill is slow) it gives up as soon as another OST in
    /// `others` has objects to take the stripe. Nil if it does not deliver.
    private func take(from osp: OSPDevice, deadline: UInt64, others: [UsableOST]) async -> UInt64? {
        if let oid = osp.reserve() { return oid }
        let patience = MonotonicClock.nanoseconds() + UInt64(max(options.qosMaxAge, 2) * 1e9)
        while MonotonicClock.nanoseconds() < deadline, osp.snapshot().usable {
            let remaining = Double(deadline &- MonotonicClock.nanoseconds()) / 1e9
            await readyEvent.wait(timeout: min(0.2, max(remaining, 0.001)))
            if let oid = osp.reserve() { return oid }
            if MonotonicClock.nanoseconds() >= patience,
               others.contains(where: { $0.osp !== osp && $0.osp.snapshot().available > 0 }) {
                return nil
            }
        }
        return nil
    }

    public func destroy(_ objects: [LayoutObject], of fid: LustreFID) async throws(LustreError) {
        try await destroy(objects, of: fid, committingWith: nil)
    }

    /// Lustre's osp_sync sends a destroy only once the MDT transaction that logged it has
    /// committed; so here: the record is written to the destroy log at once (made durable by the
    /// next sync or checkpoint, the MDT log holding the destroy meanwhile) and sent when the MDT
    /// reports `transno` committed. The unlink's reply waits for neither.
    public func destroy(_ objects: [LayoutObject], of fid: LustreFID, committingWith transno: UInt64) async throws(LustreError) {
        try await destroy(objects, of: fid, committingWith: Optional(transno))
    }

    public func mdtCommitted(_ transno: UInt64) {
        let ready = state.withLock { state -> [(ostIndex: UInt32, destroy: PendingDestroy)] in
            guard transno > state.mdtCommitted else { return [] }
            state.mdtCommitted = transno
            let due = state.awaitingCommit.filter { $0.transno <= transno }
            state.awaitingCommit.removeAll { $0.transno <= transno }
            return due.flatMap(\.items)
        }
        dispatch(ready)
    }

    private func destroy(_ objects: [LayoutObject], of fid: LustreFID, committingWith transno: UInt64?) async throws(LustreError) {
        guard !objects.isEmpty else { return }
        if let bad = objects.first(where: { $0.ostIndex > LODObjectIDFile.maxOSTIndex }) {
            throw .invalid("\(name): destroy of \(bad.id) on OST index \(bad.ostIndex) (above \(LODObjectIDFile.maxOSTIndex))")
        }
        guard let log = state.withLock({ $0.stopped ? nil : $0.log }) else {
            throw LustreError(errno: ESHUTDOWN, "\(name) not started")
        }
        let now = UInt64(clamping: WallClock.now().seconds)
        let records = objects.map { OSPSyncRecord(ostIndex: $0.ostIndex, object: $0.id, parent: fid, time: now) }
        let ids = try await log.append(records, durable: transno == nil)
        noteLogged(objects)
        let items = zip(objects, ids).map { (ostIndex: $0.ostIndex, destroy: ($1, $0.id)) }
        let sendNow = state.withLock { state -> Bool in
            guard let transno, transno > state.mdtCommitted else { return true }
            state.awaitingCommit.append((transno, items))
            return false
        }
        if sendNow { dispatch(items) }
    }

    /// Objects handed out are in the MDT's log now (or their destroy is in the destroy log).
    public func noteLogged(_ objects: [LayoutObject]) {
        guard !objects.isEmpty else { return }
        let osps = self.osps
        if objects.count == 1, let object = objects.first {
            osps.first { $0.index == object.ostIndex }?.noteLogged([object.id.objectID])
            return
        }
        var byOST: [UInt32: [UInt64]] = [:]
        for object in objects { byOST[object.ostIndex, default: []].append(object.id.objectID) }
        for (index, ids) in byOST { osps.first { $0.index == index }?.noteLogged(ids) }
    }

    /// Largest id range (above `lov_objid`) reconciled at start; beyond it something is wrong
    /// (a damaged `lov_objid`) and destroying is not safe.
    static let maxReconciledRange: UInt64 = 1 << 20

    /// After the MDT's log replay: every id handed out before the restart that no replayed
    /// record uses belongs to a create the MDT's log lost (or never got): the ids of
    /// `lov_objid_unlogged` and those between `lov_objid` and the highest id replay noted, on
    /// each OST. With those above it up to the OST's `LAST_ID` (found at the first precreate),
    /// they stay claimable by clients replaying their creates for `replayClaimGrace`, then are
    /// destroyed through the destroy log; none is handed out to a new file, which could find
    /// another file's data there.
    public func replayFinished(referenced: @Sendable (LustreFID, LayoutObject) -> Bool) async {
        let held = state.withLock { state in
            defer { state.held = [] }
            return state.held
        }
        var kept: [OSPSyncRecordID] = []
        var due: [(ostIndex: UInt32, destroy: PendingDestroy)] = []
        for (id, record) in held {
            if record.parent != .zero, referenced(record.parent, LayoutObject(ostIndex: record.ostIndex, id: record.object)) {
                kept.append(id)
            } else {
                due.append((record.ostIndex, (id, record.object)))
            }
        }
        if !kept.isEmpty, let log = state.withLock({ $0.log }) {
            LCONSOLE("\(name): \(kept.count) logged object destroys dropped: their files are still there (the unlink was lost)")
            log.cancel(kept)
        }
        dispatch(due)
        let orphans = state.withLock { state -> [UInt32: [UInt64]]? in
            guard !state.replayDone else { return nil }
            state.replayDone = true
            var orphans: [UInt32: [UInt64]] = [:]
            let osts = Set(state.candidates.keys).union(state.replayHighest.keys)
            for index in osts {
                let seen = state.replaySeen[index] ?? []
                var ids = Set<UInt64>()
                for range in state.candidates[index] ?? [] where UInt64(range.count) <= Self.maxReconciledRange {
                    for id in range where !seen.contains(id) { ids.insert(id) }
                }
                let initial = Int(index) < state.initialObjid.count ? state.initialObjid[Int(index)] : 0
                if let highest = state.replayHighest[index], highest > initial {
                    if highest - initial <= Self.maxReconciledRange {
                        for id in (initial + 1)...highest where !seen.contains(id) { ids.insert(id) }
                    } else {
                        CERROR("\(name): OST index \(index): replay noted object \(highest), far above lov_objid \(initial); not reconciled")
                    }
                }
                if !ids.isEmpty { orphans[index] = ids.sorted() }
            }
            state.replaySeen = [:]
            state.replayHighest = [:]
            state.candidates = orphans.mapValues { $0.map { $0...$0 } }
            return orphans
        }
        guard let orphans else { return }
        // Objects of OSTs whose OSP is here wait for the replays of clients (claimable); those
        // of OSTs not configured yet are destroyed now.
        let osps = self.osps
        var destroyNow: [UInt32: [UInt64]] = [:]
        for (index, ids) in orphans {
            if let osp = osps.first(where: { $0.index == index }) {
                for range in Self.ranges(of: ids) { osp.addClaimable(range) }
            } else {
                destroyNow[index] = ids
            }
        }
        let claimable = orphans.values.reduce(0) { $0 + $1.count } - destroyNow.values.reduce(0) { $0 + $1.count }
        if claimable > 0 {
            LCONSOLE("\(name): \(claimable) objects handed out to creates the MDT's log never recorded wait "
                     + "\(Int(options.replayClaimGrace)) s for their clients' replays, then are destroyed")
        }
        let deadline = MonotonicClock.nanoseconds() + UInt64(options.replayClaimGrace * 1e9)
        state.withLock { state in
            state.candidates = state.candidates.filter { destroyNow[$0.key] != nil }
            guard !state.stopped, state.claimExpiry == nil else { return }
            state.claimExpiry = Task { await self.expireClaimsLoop(deadline: deadline) }
        }
        if await destroyUnreferenced(destroyNow, what: "handed out to creates the MDT's log never recorded").isEmpty {
            state.withLock { $0.candidates = [:] }
        }
        do throws(LustreError) {
            try await writeObjectIDFile()
        } catch {
            CERROR("\(name): lov_objid not written after replay: \(error)")
        }
    }

    /// Sorted ids as runs of consecutive ids.
    private static func ranges(of sorted: [UInt64]) -> [ClosedRange<UInt64>] {
        var ranges: [ClosedRange<UInt64>] = []
        for id in sorted {
            if let last = ranges.last, last.upperBound + 1 == id {
                ranges[ranges.count - 1] = last.lowerBound...id
            } else {
                ranges.append(id...id)
            }
        }
        return ranges
    }

    /// Destroys `ids` per OST through the destroy log; returns those that could not be logged.
    private func destroyUnreferenced(_ ids: [UInt32: [UInt64]], what: String) async -> [UInt32: [UInt64]] {
        let total = ids.values.reduce(0) { $0 + $1.count }
        guard total > 0 else { return [:] }
        LCONSOLE("\(name): destroying \(total) objects \(what)")
        var failed: [UInt32: [UInt64]] = [:]
        for (index, ids) in ids.sorted(by: { $0.key < $1.key }) {
            var start = 0
            while start < ids.count {
                let chunk = ids[start..<min(ids.count, start + 1024)]
                start += chunk.count
                let objects = chunk.map {
                    LayoutObject(ostIndex: index, id: OSTObjectID(sequence: OSTObjectID.mdt0Sequence, objectID: $0))
                }
                do throws(LustreError) {
                    try await destroy(objects, of: .zero)
                } catch {
                    CERROR("\(name): destroy of unused objects on OST index \(index) failed: \(error)")
                    failed[index, default: []] += chunk
                }
            }
        }
        return failed
    }

    /// Once `replayClaimGrace` has passed since the MDT's replay, and every `qos_maxage` after
    /// (an OST that connects late finds its unused ids then, a late replay may jump over some):
    /// destroys what no replayed create claimed.
    private func expireClaimsLoop(deadline: UInt64) async {
        while !Task.isCancelled {
            let now = MonotonicClock.nanoseconds()
            if now < deadline {
                try? await Task.sleep(for: .nanoseconds(Int64(deadline - now)))
                continue
            }
            var expired: [UInt32: [UInt64]] = [:]
            var taken: [(OSPDevice, [ClosedRange<UInt64>])] = []
            for osp in osps {
                let ranges = osp.expireClaimable()
                guard !ranges.isEmpty else { continue }
                taken.append((osp, ranges))
                var ids: [UInt64] = []
                for range in ranges {
                    if UInt64(range.count) > Self.maxReconciledRange {
                        CERROR("\(name): OST index \(osp.index): \(range.count) unused object ids \(range) not destroyed "
                               + "(more than \(Self.maxReconciledRange): is lov_objid damaged?)")
                        continue
                    }
                    ids += range
                }
                if !ids.isEmpty { expired[osp.index] = ids.sorted() }
            }
            if !taken.isEmpty {
                // What could not be logged is tried again next time.
                let failed = await destroyUnreferenced(expired, what: "that no replayed create claimed")
                for (osp, ranges) in taken {
                    for range in Self.ranges(of: failed[osp.index] ?? []) { osp.addClaimable(range) }
                    osp.expired(ranges)
                }
                do throws(LustreError) {
                    try await writeObjectIDFile()
                } catch {
                    CERROR("\(name): lov_objid not written after destroying unclaimed objects: \(error)")
                }
            }
            try? await Task.sleep(for: .seconds(options.qosMaxAge))
        }
    }

    /// Hands logged destroys to their OSTs' senders (or keeps them for OSTs not added yet).
    private func dispatch(_ items: [(ostIndex: UInt32, destroy: PendingDestroy)]) {
        guard !items.isEmpty else { return }
        var byOST: [UInt32: [PendingDestroy]] = [:]
        for item in items { byOST[item.ostIndex, default: []].append(item.destroy) }
        let deliveries = state.withLock { state -> [(OSPDevice, [PendingDestroy])] in
            var deliveries: [(OSPDevice, [PendingDestroy])] = []
            for (index, destroys) in byOST {
                if let osp = state.osps.first(where: { $0.index == index }) {
                    deliveries.append((osp, destroys))
                } else {
                    state.unassigned[index, default: []] += destroys
                }
            }
            return deliveries
        }
        for (osp, destroys) in deliveries { osp.enqueueDestroys(destroys) }
    }

    public func noteInUse(_ objects: [LayoutObject]) {
        guard !objects.isEmpty else { return }
        let known = state.withLock { state -> [(OSPDevice, UInt64)] in
            var known: [(OSPDevice, UInt64)] = []
            for object in objects where object.ostIndex <= LODObjectIDFile.maxOSTIndex {
                if !state.replayDone {
                    let id = object.id.objectID, index = object.ostIndex
                    state.replaySeen[index, default: []].insert(id)
                    state.replayHighest[index] = max(state.replayHighest[index] ?? 0, id)
                }
                if let osp = state.osps.first(where: { $0.index == object.ostIndex }) {
                    known.append((osp, object.id.objectID))
                } else {
                    state.noted[object.ostIndex] = max(state.noted[object.ostIndex] ?? 0, object.id.objectID)
                }
            }
            return known
        }
        for (osp, objectID) in known { osp.noteInUse(objectID) }
    }

    /// Takes the objects a replayed create names (the layout its client was given before an
    /// MDS restart that lost the create), if none of them was handed out since: false, with
    /// nothing shared, when one was (the caller allocates new ones).
    public func claim(_ objects: [LayoutObject]) -> Bool {
        let osps = self.osps
        var claimed = 0
        for object in objects {
            guard object.id.sequence == OSTObjectID.mdt0Sequence,
                  let osp = osps.first(where: { $0.index == object.ostIndex }), osp.claim(object.id.objectID) else { break }
            claimed += 1
        }
        if claimed < objects.count && claimed > 0 {
            // Claimable again: destroyed with the others no replay takes once the grace ends.
            for object in objects.prefix(claimed) {
                osps.first { $0.index == object.ostIndex }?.unclaim(object.id.objectID)
            }
            CWARN("\(name): \(claimed) of the \(objects.count) objects of a replayed create were claimed before one was "
                  + "found handed out again: given back")
        }
        return claimed == objects.count
    }

    public func checkpoint() async throws(LustreError) {
        try await writeObjectIDFile()
        // The MDT trims its log next: the destroys it held must be durable here by then.
        if let log = state.withLock({ $0.log }) { try await log.sync() }
    }

    public func ostStatfs() async -> [(index: UInt32, statfs: ObdStatfs?)] {
        osps.map { ($0.index, $0.statfs) }
    }

    /// OSTs that can take new objects now (Lustre's `activeobd`).
    public var usableOSTCount: Int { osps.filter { $0.snapshot().usable }.count }

    /// Destroys logged and not yet committed on their OSTs.
    public var pendingDestroyCount: Int {
        let (osps, unassigned) = state.withLock {
            ($0.osps, $0.unassigned.values.reduce(0) { $0 + $1.count } + $0.awaitingCommit.reduce(0) { $0 + $1.items.count })
        }
        return osps.reduce(unassigned) { $0 + $1.pendingDestroyCount }
    }

    /// Per OST: the last object id handed out (what `lov_objid` gets at the next checkpoint).
    public var lastObjectIDs: [UInt32: UInt64] {
        Dictionary(uniqueKeysWithValues: osps.map { ($0.index, $0.lastUsed) })
    }

    // MARK: lov_objid

    private func writeObjectIDFile() async throws(LustreError) {
        await enterCheckpoint()
        defer { leaveCheckpoint() }
        let (values, ranges) = state.withLock { state -> ([UInt64], [(index: UInt32, range: ClosedRange<UInt64>)]) in
            var values = state.lovObjid
            let highest = max(state.osps.map { Int($0.index) }.max() ?? -1, state.noted.keys.map { Int($0) }.max() ?? -1)
            if highest >= values.count { values += [UInt64](repeating: 0, count: highest + 1 - values.count) }
            for osp in state.osps { values[Int(osp.index)] = max(values[Int(osp.index)], osp.lastUsed) }
            for (index, noted) in state.noted { values[Int(index)] = max(values[Int(index)], noted) }
            var ranges: [(index: UInt32, range: ClosedRange<UInt64>)] = []
            for osp in state.osps {
                for id in osp.unloggedIDs { ranges.append((osp.index, id...id)) }
                for range in osp.unreconciledIDs { ranges.append((osp.index, range)) }
            }
            for (index, list) in state.candidates { for range in list { ranges.append((index, range)) } }
            if !state.replayDone {
                // Until the MDT's replay is reconciled, what was handed out since the last start
                // stays to be checked by the next one.
                for (position, value) in values.enumerated() {
                    let initial = position < state.initialObjid.count ? state.initialObjid[position] : 0
                    if value > initial { ranges.append((UInt32(position), (initial + 1)...value)) }
                }
            }
            return (values, ranges)
        }
        let root = self.root
        // Both files in one trip to an OS thread: the unlogged list first, so lov_objid never
        // moves past ids that are not recorded anywhere.
        let error = await runOnOSThread(named: "lod-objid") { () -> LustreError? in
            if let error = LODUnloggedObjectsFile.write(root: root, ranges) {
                return error.adding(context: LODUnloggedObjectsFile.name)
            }
            return LODObjectIDFile.write(root: root, values)?.adding(context: "lov_objid")
        }
        if let error { throw error.adding(context: name) }
        state.withLock { $0.lovObjid = values }
    }

    private func enterCheckpoint() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = checkpointGate.withLock { gate -> Bool in
                guard gate.running else {
                    gate.running = true
                    return true
                }
                gate.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func leaveCheckpoint() {
        let next = checkpointGate.withLock { gate -> CheckedContinuation<Void, Never>? in
            guard !gate.waiters.isEmpty else {
                gate.running = false
                return nil
            }
            return gate.waiters.removeFirst()
        }
        next?.resume()
    }
}
