import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The metadata target: the namespace of one filesystem kept as an ext4 tree under `ROOT/` on
/// the target root, with FIDs, layouts and names in xattrs, an object index from FID to inode, and
/// a write-ahead log that makes every operation atomic across a crash (see README.md).
///
/// Every mutating call returns the transno of its change (0 when nothing changed); the change is
/// durable once `lastCommitted` reaches it (group commit every `Options.commitInterval`, or
/// `sync()`), and commit callbacks report each advance.
public final class MDTDevice: Sendable {
    /// Tunables of an MDT.
    public struct Options: Sendable {
        /// Seconds between group commits of the log.
        public var commitInterval: Double = 1.0
        /// The filesystem's default layout, where neither the request, the parent directory nor
        /// the root directory sets a field.
        public var defaultLayout = LustreLayout(stripeSize: 1 << 20, stripeCount: 1)
        /// Log size beyond which the tree is synced and the log trimmed.
        public var checkpointBytes = 64 << 20
        /// Inodes the MDT keeps open at most (nil: half the descriptor limit, at most 256 Ki).
        public var inodeCacheCapacity: Int?
        /// Seconds the files unlinked while open, found in `PENDING/` at start, wait for their
        /// clients to open them again (Lustre's recovery window) before they are destroyed;
        /// one opened again goes at its last close. 0: destroyed at start.
        public var orphanGrace: Double = 60
        /// Seconds a client's replay waits for a lower lost transno no client replays (another
        /// client's that died, the MDT's own) before it goes anyway (`MDTReplayOrder`).
        public var replayGapTimeout: Double = 15
        public init() {}
    }

    public let target: TargetName
    /// The target root directory (holding `ROOT/`, `oi/`, `PENDING/`, `mdt_log`, ...).
    public let rootPath: String
    let allocator: any MDTObjectAllocator
    let options: Options
    let rootFD: Int32
    let tree: MDTTree
    let log: MDTLog
    let sequencer: MDTFIDSequencer
    let locks = MDTLockTable()
    let openFiles = Mutex(MDTOpenTable())
    /// `recovery_status`.
    let recovery = Mutex(MDTRecoveryStatus(start: WallClock.now().seconds))
    /// Which clients' replays to make again, and when: in transno order across clients, from
    /// the last transno in the log when this start opened it.
    let replayOrder: MDTReplayOrder
    private let callbacks = Mutex<[@Sendable (UInt64) -> Void]>([])
    private let lastReported = Mutex<UInt64>(0)
    private let committer = Mutex<Task<Void, Never>?>(nil)
    private let checkpointRunning = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Fault injection for crash tests: fail right after the log append, before the tree changes.
    let failAfterLogAppend = Atomic<Bool>(false)

    private init(target: TargetName, rootPath: String, allocator: any MDTObjectAllocator, options: Options,
                 rootFD: Int32, tree: MDTTree, log: MDTLog, sequencer: MDTFIDSequencer) {
        self.target = target
        self.rootPath = rootPath
        self.allocator = allocator
        self.options = options
        self.rootFD = rootFD
        self.tree = tree
        self.log = log
        self.sequencer = sequencer
        replayOrder = MDTReplayOrder(lastTransnoAtStart: log.lastTransno, gapTimeout: options.replayGapTimeout)
        lastReported.withLock { $0 = log.lastCommitted }
    }

    deinit { Glibc.close(rootFD) }

    /// Opens (formatting on first use) the MDT at the target root `root`, replays its log,
    /// keeps the orphans left in `PENDING/` for their clients to open again (`orphanGrace`),
    /// and starts the group commit.
    public static func open(root: String, target: TargetName, allocator: any MDTObjectAllocator,
                            options: Options = .init()) async throws(LustreError) -> MDTDevice {
        guard options.commitInterval > 0 else { throw .invalid("commit interval \(options.commitInterval) s") }
        try options.defaultLayout.validateSettings()
        let fd = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open MDT root \(root)") }
        let device: MDTDevice
        let records: [(transno: UInt64, record: MDTLogRecord)]
        do throws(LustreError) {
            let tree = try MDTTree(rootFD: fd, inodeCacheCapacity: options.inodeCacheCapacity)
            let opened = try MDTLog.open(rootFD: fd)
            records = opened.1
            device = MDTDevice(target: target, rootPath: root, allocator: allocator, options: options, rootFD: fd,
                               tree: tree, log: opened.0, sequencer: try MDTFIDSequencer(rootFD: fd))
        } catch {
            Glibc.close(fd)
            throw error.adding(context: "MDT \(target)")
        }
        await device.replay(records)
        await allocator.replayFinished(referenced: { [device] fid, object in device.uses(fid, object) })
        if !records.isEmpty { await device.repairAfterReplay() }
        await device.keepOrphansForRecovery()
        if !records.isEmpty { try await device.checkpoint() }
        device.startCommitter()
        CDEBUG(.info, "\(target): MDT at \(root) up, \(records.count) log records replayed, last transno \(device.log.lastTransno)")
        return device
    }

    /// Whether the file `fid` exists and its layout lists `object` (a destroy of it logged by
    /// the allocator belongs to an unlink the MDT lost).
    func uses(_ fid: LustreFID, _ object: LayoutObject) -> Bool {
        guard let inode = try? tree.oi.inode(fid), inode.isRegular,
              let layout = try? tree.layout(of: inode) else { return false }
        return layout.objects.contains { $0.ostIndex == object.ostIndex && $0.id == object.id }
    }

    /// Stops the group commit, syncs the tree and trims the log.
    public func close() async {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        committer.withLock { $0?.cancel() }
        do throws(LustreError) {
            try await checkpoint()
        } catch {
            CDEBUG(.warning, "\(target): checkpoint at close failed: \(error)")
            _ = try? await sync()
        }
    }

    /// Stops without syncing or trimming anything: what a SIGKILL leaves (tests).
    func simulateCrash() {
        stopped.store(true, ordering: .releasing)
        committer.withLock { $0?.cancel() }
    }

    /// The root directory's FID (`[0x200000007:0x1:0x0]`).
    public var rootFID: LustreFID { MDTFIDSequencer.rootFID }

    /// The highest transno whose log record is durable.
    public var lastCommitted: UInt64 { log.lastCommitted }

    /// Calls `callback` with `lastCommitted` each time it advances.
    public func addCommitCallback(_ callback: @escaping @Sendable (UInt64) -> Void) {
        callbacks.withLock { $0.append(callback) }
    }

    /// Commits everything now; returns `lastCommitted`.
    public func sync() async throws(LustreError) -> UInt64 {
        // OI records first: a committed create then has its record on disk even before the
        // checkpoint's syncfs (replay would write it again anyway, but a later rename could
        // have moved the inode away from the name replay looks under).
        try await tree.oi.sync()
        let committed = try await log.commit()
        report(committed)
        return committed
    }

    private func report(_ committed: UInt64) {
        let advanced = lastReported.withLock { last -> Bool in
            guard committed > last else { return false }
            last = committed
            return true
        }
        guard advanced else { return }
        allocator.mdtCommitted(committed)
        for callback in callbacks.withLock({ $0 }) { callback(committed) }
    }

    private func startCommitter() {
        let interval = UInt64(options.commitInterval * 1e9)
        let task = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: interval)
                guard let self, !Task.isCancelled else { return }
                do throws(LustreError) {
                    _ = try await self.sync()
                } catch {
                    CDEBUG(.error, "\(self.target): log commit failed: \(error)")
                }
                if self.log.size > self.options.checkpointBytes { try? await self.checkpoint() }
            }
        }
        committer.withLock { $0 = task }
    }

    /// Syncs the tree (`syncfs`), lets the allocator persist its state, and starts a new log.
    func checkpoint() async throws(LustreError) {
        guard !checkpointRunning.exchange(true, ordering: .acquiringAndReleasing) else { return }
        defer { checkpointRunning.store(false, ordering: .releasing) }
        let fd = rootFD
        let allocator = self.allocator
        try await log.checkpoint { () async throws(LustreError) in
            let rc = await runOnOSThread(named: "mdt-sync") { syncfs(fd) == 0 ? 0 : errno }
            guard rc == 0 else { throw LustreError(errno: rc, "syncfs of the MDT") }
            try await allocator.checkpoint()
        }
        report(log.lastCommitted)
    }

    // MARK: the common path of every change

    /// Appends `record`, then applies it; the caller holds the operation's locks and has done
    /// every check, so the tree change can only fail on I/O errors.
    /// `appended` runs once the record is in the log: from then on the change will happen (at
    /// the latest by replay), so the caller must not undo its side effects on a later error.
    func commit(_ record: MDTLogRecord, appended: () -> Void = {}) async throws(LustreError) -> (transno: UInt64, inode: MDTInode?) {
        guard !stopped.load(ordering: .acquiring) else { throw LustreError(errno: ESHUTDOWN, "\(target) is stopped") }
        let transno = try log.append(record)
        appended()
        if failAfterLogAppend.load(ordering: .acquiring) {
            throw LustreError(errno: EIO, "\(target): fail point after the log append")
        }
        let inode = try tree.apply(record, live: true)
        return (transno, inode)
    }

    // MARK: start-up

    private func replay(_ records: [(transno: UInt64, record: MDTLogRecord)]) async {
        for (transno, record) in records {
            do throws(LustreError) {
                try tree.apply(record, live: false)
            } catch {
                CDEBUG(.warning, "\(target): replay of transno \(transno) failed: \(error)")
            }
            await allocatorEffects(of: record, replay: true)
        }
    }

    /// Leaves no trace of the replay: removes what `REPLAY/` still holds (and destroys the
    /// objects of files removed so), drops OI records of inodes gone or unreachable, writes those
    /// of entries that lack one (lost with the page cache: records are table data), and sets
    /// link xattrs to the names the files really have. The checkpoint that follows makes it durable.
    private func repairAfterReplay() async {
        var destroy: [(LustreFID, [LayoutObject])] = []
        do throws(LustreError) {
            destroy = try tree.clearReplayLeftovers()
        } catch {
            CDEBUG(.warning, "\(target): clearing REPLAY/ after log replay failed: \(error)")
        }
        do throws(LustreError) {
            let report = try MDTChecker.check(root: rootPath)
            for fid in report.staleRecords { try tree.oi.remove(fid) }
            for (fid, path) in report.missingRecords {
                let fd = openat(rootFD, MDTTree.rootDirectory + "/" + path, O_PATH | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { continue }
                defer { Glibc.close(fd) }
                try tree.oi.insert(fid, fd: fd)
            }
            for fid in report.unreachableRecords {
                if let inode = try tree.oi.inode(fid), inode.isRegular, let layout = try? tree.layout(of: inode),
                   layout.isInstantiated {
                    destroy.append((fid, layout.objects))
                }
                try tree.oi.remove(fid)
            }
            for (fid, names) in report.linkMismatches {
                if let inode = try tree.oi.inode(fid) { try tree.setLinks(inode, names) }
            }
            if !report.isClean {
                CDEBUG(.warning, "\(target): repaired after log replay: \(report.problems.joined(separator: "; "))")
            }
        } catch {
            CDEBUG(.warning, "\(target): repair after log replay failed: \(error)")
        }
        for (fid, objects) in destroy where !objects.isEmpty {
            do throws(LustreError) {
                try await allocator.destroy(objects, of: fid)
            } catch {
                CDEBUG(.warning, "\(target): destroy of the objects of \(fid) failed: \(error)")
            }
        }
    }

    /// What a record means for OST objects: in replay, created files' objects are in use, and
    /// destroyed files' objects are destroyed (again: destroy is idempotent). An orphan's are
    /// destroyed with it, at its last close or after the orphan grace, live or replayed.
    func allocatorEffects(of record: MDTLogRecord, replay: Bool) async {
        var destroy: [(LustreFID, [LayoutObject])] = []
        switch record {
        case .create(let r) where replay && !r.layout.isEmpty:
            if let layout = try? MDTTree.decodeLayout(r.layout), layout.isInstantiated {
                allocator.noteInUse(layout.objects)
            }
        case .setxattr(_, let name, let value?) where replay && name == tree.lovName:
            if let layout = try? MDTTree.decodeLayout(value), layout.isInstantiated { allocator.noteInUse(layout.objects) }
        case .unlink(let r) where r.disposition == .destroy:
            destroy.append((r.fid, r.objects))
        case .rename(_, _, _, _, _, _, _, let r?) where r.disposition == .destroy:
            destroy.append((r.fid, r.objects))
        case .destroyOrphan(let fid, let objects):
            destroy.append((fid, objects))
        default:
            break
        }
        // Live, the record was just appended: the last transno appended is its own or a later
        // one, whose commit covers it.
        let transno = replay ? 0 : log.lastTransno
        for (fid, objects) in destroy where !objects.isEmpty {
            do throws(LustreError) {
                if replay {
                    try await allocator.destroy(objects, of: fid)
                } else {
                    try await allocator.destroy(objects, of: fid, committingWith: transno)
                }
            } catch {
                CDEBUG(.warning, "\(target): destroy of the objects of \(fid) failed: \(error)")
            }
        }
    }

    /// Files unlinked while open when the MDT stopped: the clients that held them open open
    /// them again once they reconnect (`MDCOpenHandles`); those none opens within
    /// `orphanGrace` are destroyed then, the others at their last close.
    private func keepOrphansForRecovery() async {
        let orphans = pendingOrphans()
        guard !orphans.isEmpty else { return }
        guard options.orphanGrace > 0 else {
            for fid in orphans { await destroyOrphan(fid) }
            return
        }
        openFiles.withLock { $0.orphans.formUnion(orphans) }
        recovery.withLock { status in
            status.orphans = orphans
            status.graceEnd = status.start + Int64(options.orphanGrace.rounded(.up))
            status.completed = nil
        }
        CDEBUG(.info, "\(target): \(orphans.count) files unlinked while open wait \(options.orphanGrace) s to be opened again")
        let grace = UInt64(options.orphanGrace * 1e9)
        Task { [weak self] in
            try? await Task.sleep(nanoseconds: grace)
            guard let self, !self.stopped.load(ordering: .acquiring) else { return }
            for fid in orphans {
                let due = self.openFiles.withLock { table in
                    table.openCount[fid, default: 0] == 0 && table.orphans.remove(fid) != nil
                }
                if due { await self.destroyOrphan(fid) }
            }
            self.recovery.withLock { $0.completed = $0.completed ?? WallClock.now().seconds }
        }
    }

    /// `mdt.<target>.recovery_status` (`MDTRecoveryStatus`): complete once no orphan found at
    /// start waits any more, or its grace is over.
    public func recoveryStatusText(connectedClients: Int) -> String {
        let orphans = recovery.withLock { $0.orphans }
        let waiting = openFiles.withLock { table in
            orphans.filter { table.orphans.contains($0) && table.openCount[$0, default: 0] == 0 }.count
        }
        let now = WallClock.now().seconds
        let status = recovery.withLock { status -> MDTRecoveryStatus in
            if status.completed == nil && waiting == 0 { status.completed = now }
            return status
        }
        return status.text(now: now, waiting: waiting, connectedClients: connectedClients, lastTransno: log.lastTransno,
                           replayOrder: replayOrder.status)
    }

    /// The FIDs in `PENDING/`.
    private func pendingOrphans() -> [LustreFID] {
        let fd = openat(tree.pendingFD, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        guard let dir = fdopendir(fd) else {
            Glibc.close(fd)
            return []
        }
        var names: [String] = []
        while let entry = Glibc.readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        closedir(dir)
        return names.compactMap { try? LustreFID(parsing: $0) }
    }

    /// Destroys the orphan `fid` (in `PENDING/`) and its objects.
    private func destroyOrphan(_ fid: LustreFID) async {
        var objects: [LayoutObject] = []
        if let inode = try? tree.oi.inode(fid), let layout = try? tree.layout(of: inode) { objects = layout.objects }
        if let entry = try? tree.entry(tree.pendingFD, MDTObjectIndex.recordName(fid)) {
            if let layout = try? tree.layout(of: MDTInode(fd: dup(entry.fd), fid: fid, type: UInt32(S_IFREG))) {
                objects = layout.objects
            }
            Glibc.close(entry.fd)
        }
        await enterLogged()
        defer { log.leave() }
        do throws(LustreError) {
            _ = try await commit(.destroyOrphan(fid: fid, objects: objects))
            await allocatorEffects(of: .destroyOrphan(fid: fid, objects: objects), replay: false)
        } catch {
            CDEBUG(.warning, "\(target): destroying orphan \(fid) failed: \(error)")
        }
    }

    func enterLogged() async { await log.enter() }
}

/// Open handles: which FIDs are open, by whom, and which of them lost their last name.
struct MDTOpenTable {
    struct Handle {
        var fid: LustreFID
        var owner: UInt64
        var flags: Int32
    }

    /// Random at each start, as Lustre's handle cookies: a handle a client kept from before a
    /// restart names no open of this instance (`EBADF`), never another file's.
    var nextHandle = UInt64.random(in: 1...(UInt64.max >> 2))
    var handles: [UInt64: Handle] = [:]
    var openCount: [LustreFID: Int] = [:]
    var orphans: Set<LustreFID> = []
}
