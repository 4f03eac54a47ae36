import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The persistent log of object destroys still owed to OSTs (Lustre's OSP sync llog, one for
/// all OSTs): a directory of segment files, each a 64-byte header then 64-byte
/// `OSPSyncRecord`s. `append` returns once its records are durable (one `fdatasync` shared by
/// every caller that appended meanwhile); `cancel` marks records done in place without a sync
/// (a lost cancellation only resends a destroy the OST answers `ENOENT`); a segment that is
/// full and entirely cancelled is removed. At open every live record comes back for replay
/// and appends go to a fresh segment, so nothing is ever written after a torn tail.
final class OSPSyncLog: Sendable {
    /// Header (slot 0): magic "OSPSLOG1", version, record size, segment number.
    static let headerMagic: UInt64 = 0x3147_4f4c_5350_534f
    static let version: UInt32 = 1

    private struct Segment {
        var fd: Int32
        /// Records reserved and not cancelled.
        var live: Int
        /// No more appends go here.
        var sealed: Bool
        /// Syncs running on the descriptor: it stays open until they finish.
        var busy: Int
    }

    private struct State {
        var segments: [UInt64: Segment] = [:]
        var active: UInt64 = 0
        var nextSlot: UInt32 = 1
        var closed = false
    }

    private struct SyncState {
        var requested: UInt64 = 0
        var completed: UInt64 = 0
        var running = false
        var dirtySegments: Set<UInt64> = []
        var directoryDirty = false
        var failure: LustreError?
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<LustreError?, Never>)] = []
    }

    let directory: String
    let slotsPerSegment: UInt32
    private let state = Mutex(State())
    private let syncState = Mutex(SyncState())

    private init(directory: String, slotsPerSegment: UInt32) {
        self.directory = directory
        self.slotsPerSegment = slotsPerSegment
    }

    /// Opens (creating if needed) the log in `directory` and returns it with the live records
    /// in log order. `recordsPerSegment` bounds a segment file (4096 records = 256 KiB).
    static func open(directory: String, recordsPerSegment: Int = 4096) throws(LustreError)
        -> (log: OSPSyncLog, live: [(id: OSPSyncRecordID, record: OSPSyncRecord)]) {
        guard (1...(1 << 20)).contains(recordsPerSegment) else {
            throw .invalid("osp sync log: \(recordsPerSegment) records per segment (1...\(1 << 20))")
        }
        if mkdir(directory, 0o755) != 0, errno != EEXIST {
            throw LustreError.fromErrno("mkdir \(directory)")
        }
        let log = OSPSyncLog(directory: directory, slotsPerSegment: UInt32(recordsPerSegment) + 1)
        var live: [(id: OSPSyncRecordID, record: OSPSyncRecord)] = []
        var segments: [UInt64: Segment] = [:]
        var highest: UInt64 = 0
        for number in try segmentNumbers(in: directory) {
            highest = max(highest, number)
            let path = segmentPath(directory, number)
            let records = try readSegment(path: path, number: number)
            let alive = records.filter(\.live)
            if alive.isEmpty {
                unlink(path)
                continue
            }
            let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw LustreError.fromErrno("open \(path)") }
            segments[number] = Segment(fd: fd, live: alive.count, sealed: true, busy: 0)
            live += alive.map { (OSPSyncRecordID(segment: number, slot: $0.slot), $0.record) }
        }
        log.state.withLock { state in
            state.segments = segments
            state.active = highest      // sealed or absent: the first append starts highest + 1
            state.nextSlot = log.slotsPerSegment
        }
        return (log, live)
    }

    /// The live records of the log in `directory`, for offline checks (nothing is changed).
    static func liveRecords(directory: String) throws(LustreError) -> [OSPSyncRecord] {
        var records: [OSPSyncRecord] = []
        for number in try segmentNumbers(in: directory) {
            records += try readSegment(path: segmentPath(directory, number), number: number).filter(\.live).map(\.record)
        }
        return records
    }

    // MARK: Appending

    /// Appends `records` and returns, once they are durable unless `durable` is false (then the
    /// next `sync()` or durable append covers them), with where each landed.
    func append(_ records: [OSPSyncRecord], durable: Bool = true) async throws(LustreError) -> [OSPSyncRecordID] {
        guard !records.isEmpty else { return [] }
        var ids: [OSPSyncRecordID] = []
        ids.reserveCapacity(records.count)
        var writes: [(fd: Int32, slot: UInt32, first: Int, count: Int)] = []
        let reserved: LustreError? = state.withLock { state in
            guard !state.closed else { return LustreError(errno: ESHUTDOWN, "osp sync log closed") }
            var index = 0
            while index < records.count {
                if state.nextSlot >= slotsPerSegment, let error = rollLocked(&state) {
                    // Nothing of this append is written: give back what it reserved.
                    for id in ids where state.segments[id.segment] != nil {
                        state.segments[id.segment]!.live -= 1
                        releaseIfDoneLocked(&state, id.segment)
                    }
                    return error
                }
                let count = min(records.count - index, Int(slotsPerSegment - state.nextSlot))
                let number = state.active
                state.segments[number]!.live += count
                writes.append((state.segments[number]!.fd, state.nextSlot, index, count))
                for offset in 0..<count {
                    ids.append(OSPSyncRecordID(segment: number, slot: state.nextSlot + UInt32(offset)))
                }
                state.nextSlot += UInt32(count)
                index += count
            }
            return nil
        }
        if let reserved { throw reserved }
        var failure: LustreError?
        for write in writes where failure == nil {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(write.count * OSPSyncRecord.size)
            for record in records[write.first..<(write.first + write.count)] { bytes += record.encoded() }
            let offset = off_t(write.slot) * off_t(OSPSyncRecord.size)
            let written = bytes.withUnsafeBytes { pwrite(write.fd, $0.baseAddress, $0.count, offset) }
            if written != bytes.count {
                failure = written < 0 ? LustreError.fromErrno("osp sync log write") : LustreError(errno: EIO, "osp sync log: short write")
            }
        }
        if let failure {
            // The slots stay reserved but unwritten (or torn): they never decode as records.
            cancelReservations(ids)
            throw failure
        }
        let segmentsWritten = Set(ids.map(\.segment))
        guard durable else {
            syncState.withLock { $0.dirtySegments.formUnion(segmentsWritten) }
            return ids
        }
        if let error = await commit(segments: segmentsWritten) {
            cancelReservations(ids)
            throw error
        }
        return ids
    }

    /// Makes every record appended so far durable.
    func sync() async throws(LustreError) {
        if let error = await commit(segments: []) { throw error }
    }

    /// Seals the active segment and starts the next one (called with the state locked; a rare,
    /// short metadata syscall).
    private func rollLocked(_ state: inout State) -> LustreError? {
        if state.segments[state.active] != nil {
            state.segments[state.active]!.sealed = true
            releaseIfDoneLocked(&state, state.active)
        }
        let number = state.active + 1
        let path = Self.segmentPath(directory, number)
        let fd = Glibc.open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return LustreError.fromErrno("create \(path)") }
        var header = [UInt8](repeating: 0, count: OSPSyncRecord.size)
        header.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: Self.headerMagic.littleEndian, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: Self.version.littleEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: UInt32(OSPSyncRecord.size).littleEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: number.littleEndian, toByteOffset: 16, as: UInt64.self)
        }
        guard header.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == header.count else {
            let error = LustreError.fromErrno("write header of \(path)")
            Glibc.close(fd)
            unlink(path)
            return error
        }
        state.segments[number] = Segment(fd: fd, live: 0, sealed: false, busy: 0)
        state.active = number
        state.nextSlot = 1
        syncState.withLock { $0.directoryDirty = true }
        return nil
    }

    /// Makes every write so far durable: joins the running sync round or starts one.
    private func commit(segments: Set<UInt64>) async -> LustreError? {
        await withCheckedContinuation { (continuation: CheckedContinuation<LustreError?, Never>) in
            let start = syncState.withLock { sync -> Bool in
                sync.requested += 1
                sync.dirtySegments.formUnion(segments)
                sync.waiters.append((sync.requested, continuation))
                guard !sync.running else { return false }
                sync.running = true
                return true
            }
            if start {
                Task { await self.syncRounds() }
            }
        }
    }

    /// Sync rounds until nobody waits: each covers every write whose caller asked before it began.
    private func syncRounds() async {
        while true {
            let round = syncState.withLock { sync -> (target: UInt64, segments: Set<UInt64>, directory: Bool)? in
                guard sync.completed < sync.requested else {
                    sync.running = false
                    return nil
                }
                defer {
                    sync.dirtySegments.removeAll()
                    sync.directoryDirty = false
                }
                return (sync.requested, sync.dirtySegments, sync.directoryDirty)
            }
            guard let round else { return }
            let fds: [Int32] = state.withLock { state in
                round.segments.compactMap { number in
                    guard state.segments[number] != nil else { return nil }
                    state.segments[number]!.busy += 1
                    return state.segments[number]!.fd
                }
            }
            let directory = self.directory
            let error: LustreError? = await runOnOSThread(named: "osp-sync") {
                for fd in fds where fdatasync(fd) != 0 {
                    return LustreError.fromErrno("fdatasync osp sync log")
                }
                if round.directory {
                    let dfd = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    guard dfd >= 0 else { return LustreError.fromErrno("open \(directory)") }
                    defer { Glibc.close(dfd) }
                    if fsync(dfd) != 0 { return LustreError.fromErrno("fsync \(directory)") }
                }
                return nil
            }
            state.withLock { state in
                for number in round.segments where state.segments[number] != nil {
                    state.segments[number]!.busy -= 1
                    releaseIfDoneLocked(&state, number)
                }
            }
            let ready = syncState.withLock { sync -> [(ticket: UInt64, continuation: CheckedContinuation<LustreError?, Never>)] in
                sync.completed = round.target
                let ready = sync.waiters.filter { $0.ticket <= round.target }
                sync.waiters.removeAll { $0.ticket <= round.target }
                return ready
            }
            if let error { CERROR("osp sync log: \(error)") }
            for waiter in ready { waiter.continuation.resume(returning: error) }
        }
    }

    // MARK: Cancelling

    /// Marks records done: their destroys are committed on the OST.
    func cancel(_ ids: [OSPSyncRecordID]) {
        var state = OSPSyncRecord.stateCancelled.littleEndian
        self.state.withLock { log in
            for id in ids {
                guard let segment = log.segments[id.segment] else { continue }
                let offset = off_t(id.slot) * off_t(OSPSyncRecord.size)
                if pwrite(segment.fd, &state, 4, offset) != 4 {
                    CWARN("osp sync log: cancel of record \(id.segment):\(id.slot) not written: \(LustreError.fromErrno())")
                }
                log.segments[id.segment]!.live -= 1
                releaseIfDoneLocked(&log, id.segment)
            }
        }
    }

    /// Drops reservations whose records never became durable (failed appends).
    private func cancelReservations(_ ids: [OSPSyncRecordID]) {
        state.withLock { log in
            for id in ids where log.segments[id.segment] != nil {
                log.segments[id.segment]!.live -= 1
                releaseIfDoneLocked(&log, id.segment)
            }
        }
    }

    /// Removes a sealed segment with no live record and no sync on it.
    private func releaseIfDoneLocked(_ state: inout State, _ number: UInt64) {
        guard let segment = state.segments[number], segment.sealed, segment.live <= 0, segment.busy == 0 else { return }
        Glibc.close(segment.fd)
        unlink(Self.segmentPath(directory, number))
        state.segments[number] = nil
    }

    /// Closes the files; records still live stay for the next open.
    func close() {
        state.withLock { state in
            state.closed = true
            for (number, segment) in state.segments {
                Glibc.close(segment.fd)
                if segment.live <= 0 { unlink(Self.segmentPath(directory, number)) }
            }
            state.segments.removeAll()
        }
    }

    /// Records live now (diagnostics and tests).
    var liveCount: Int { state.withLock { $0.segments.values.reduce(0) { $0 + max($1.live, 0) } } }

    // MARK: Files

    static func segmentPath(_ directory: String, _ number: UInt64) -> String {
        let hex = String(number, radix: 16)
        return "\(directory)/" + String(repeating: "0", count: max(0, 16 - hex.count)) + hex
    }

    private static func segmentNumbers(in directory: String) throws(LustreError) -> [UInt64] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw LustreError.fromErrno("opendir \(directory)")
        }
        defer { closedir(dir) }
        var numbers: [UInt64] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.utf8.count == 16, let number = UInt64(name, radix: 16) { numbers.append(number) }
        }
        return numbers.sorted()
    }

    /// Reads a segment: its intact records with their slots. A bad header is an error (the
    /// file is not ours to guess about); bad slots are skipped.
    private static func readSegment(path: String, number: UInt64) throws(LustreError)
        -> [(slot: UInt32, record: OSPSyncRecord, live: Bool)] {
        let bytes = try DurableFile.read(path, limit: 64 << 20)
        let size = bytes.count
        // A crash between creating the file and writing its header leaves fewer bytes: nothing in it.
        guard size >= OSPSyncRecord.size else { return [] }
        let records = bytes.withUnsafeBytes { raw -> [(slot: UInt32, record: OSPSyncRecord, live: Bool)]? in
            let magic = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
            let version = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
            let recordSize = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
            let recorded = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self))
            guard magic == headerMagic, version == Self.version, recordSize == UInt32(OSPSyncRecord.size), recorded == number else {
                return nil
            }
            var records: [(slot: UInt32, record: OSPSyncRecord, live: Bool)] = []
            var slot = 1
            while (slot + 1) * OSPSyncRecord.size <= size {
                let start = slot * OSPSyncRecord.size
                if let decoded = OSPSyncRecord.decode(UnsafeRawBufferPointer(rebasing: raw[start..<(start + OSPSyncRecord.size)])) {
                    records.append((UInt32(slot), decoded.record, decoded.live))
                }
                slot += 1
            }
            return records
        }
        guard let records else { throw LustreError(errno: EUCLEAN, "osp sync log segment \(path): bad header") }
        return records
    }
}
