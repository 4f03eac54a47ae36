import Glibc
import LibCFS
import ObdClass
import Synchronization

/// The MDT's write-ahead log, `mdt_log` on the target root.
///
/// Format: a 16-byte header (magic, then the base transno: the last transno of the previous log,
/// so transnos stay monotonic across checkpoints and restarts), then records, each
/// `length (4) | crc32c of body (4) | body`, body = `transno (8) | MDTLogRecord`. A record is
/// appended with one `write()` before the operation touches the tree; a torn or corrupt tail
/// ends the log at start-up (that operation never reported success).
///
/// Group commit: `commit()` fdatasyncs the log, making every record appended before it durable;
/// concurrent operations share one flush. A checkpoint drains the operations in flight (each is
/// bracketed by `enter()`/`leave()`), lets the caller sync the tree, then starts an empty log.
final class MDTLog: Sendable {
    static let magic: UInt64 = 0x4D44_544C_4F47_0001   // "MDTLOG" v1
    static let headerSize = 16
    static let fileName = "mdt_log"
    /// Records larger than this are corrupt.
    static let maxRecordSize = 1 << 20

    /// The log file; closed when the last user (a flush in progress) lets go.
    final class File: Sendable {
        let fd: Int32
        init(fd: Int32) { self.fd = fd }
        deinit { Glibc.close(fd) }
    }

    private struct State {
        var file: File
        var lastTransno: UInt64
        var size: Int
        var active = 0
        var checkpointing = false
        var enterWaiters: [CheckedContinuation<Void, Never>] = []
        var drainWaiter: CheckedContinuation<Void, Never>?
    }

    private let rootFD: Int32
    private let state: Mutex<State>
    private let committed: Atomic<UInt64>

    private init(rootFD: Int32, file: File, lastTransno: UInt64, size: Int) {
        self.rootFD = rootFD
        state = Mutex(State(file: file, lastTransno: lastTransno, size: size))
        committed = Atomic(lastTransno)
    }

    /// Opens the log under `rootFD` (creating an empty one), returns it with the records to
    /// replay, in order. A torn tail is cut off.
    static func open(rootFD: Int32) throws(LustreError) -> (MDTLog, [(transno: UInt64, record: MDTLogRecord)]) {
        var fd = openat(rootFD, fileName, O_RDWR | O_CLOEXEC)
        if fd < 0 {
            guard errno == ENOENT else { throw LustreError.fromErrno("open \(fileName)") }
            try writeEmpty(rootFD: rootFD, baseTransno: 0)
            fd = openat(rootFD, fileName, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw LustreError.fromErrno("open \(fileName)") }
        }
        let file = File(fd: fd)
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("stat \(fileName)") }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            guard n > 0 else { throw LustreError.fromErrno("read \(fileName)") }
            done += n
        }
        var reader = MDTByteReader(bytes)
        guard bytes.count >= headerSize, try reader.read(UInt64.self) == magic else {
            throw LustreError(errno: EUCLEAN, "\(fileName): bad header (not an MDT log)")
        }
        var lastTransno = try reader.read(UInt64.self)
        var records: [(UInt64, MDTLogRecord)] = []
        var good = headerSize
        while reader.remaining >= 8 {
            let length = Int(try reader.read(UInt32.self))
            let crc = try reader.read(UInt32.self)
            guard length >= 9, length <= maxRecordSize, reader.remaining >= length else { break }
            let body = try reader.readBytes(length: length)
            guard CRC32C.checksum(body) == crc else { break }
            var bodyReader = MDTByteReader(body)
            let transno = try bodyReader.read(UInt64.self)
            guard let record = try? MDTLogRecord(decoding: Array(body[8...])), transno > lastTransno else { break }
            records.append((transno, record))
            lastTransno = transno
            good = reader.offset
        }
        if good < bytes.count {
            guard ftruncate(fd, off_t(good)) == 0, fsync(fd) == 0 else { throw LustreError.fromErrno("trim \(fileName)") }
        }
        guard lseek(fd, off_t(good), SEEK_SET) >= 0 else { throw LustreError.fromErrno("seek \(fileName)") }
        return (MDTLog(rootFD: rootFD, file: file, lastTransno: lastTransno, size: good), records)
    }

    /// Writes an empty log with `baseTransno` as `mdt_log`. An existing log is restarted in
    /// place, so a checkpoint needs no new inode (an MDT whose inodes are all taken by files
    /// still checkpoints and starts): the new header is made durable before the records are cut
    /// off, and records left behind it by a crash are no newer than its base transno, so the
    /// next start ends the log there. A new log is written whole and renamed into place.
    private static func writeEmpty(rootFD: Int32, baseTransno: UInt64) throws(LustreError) {
        var header: [UInt8] = []
        header.appendLittleEndian(magic)
        header.appendLittleEndian(baseTransno)
        let existing = openat(rootFD, fileName, O_RDWR | O_CLOEXEC)
        if existing >= 0 {
            defer { Glibc.close(existing) }
            let n = header.withUnsafeBytes { pwrite(existing, $0.baseAddress, $0.count, 0) }
            guard n == header.count, fdatasync(existing) == 0, ftruncate(existing, off_t(headerSize)) == 0,
                  fsync(existing) == 0 else { throw LustreError.fromErrno("restart \(fileName)") }
            return
        }
        guard errno == ENOENT else { throw LustreError.fromErrno("open \(fileName)") }
        let temporary = fileName + ".new"
        let fd = openat(rootFD, temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LustreError.fromErrno("create \(temporary)") }
        defer { Glibc.close(fd) }
        let n = header.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == header.count, fsync(fd) == 0 else { throw LustreError.fromErrno("write \(temporary)") }
        guard renameat(rootFD, temporary, rootFD, fileName) == 0, fsync(rootFD) == 0 else {
            throw LustreError.fromErrno("install \(fileName)")
        }
    }

    var lastTransno: UInt64 { state.withLock { $0.lastTransno } }
    var lastCommitted: UInt64 { committed.load(ordering: .acquiring) }
    var size: Int { state.withLock { $0.size } }

    /// Starts an operation: waits while a checkpoint runs.
    func enter() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = state.withLock { state -> Bool in
                if state.checkpointing {
                    state.enterWaiters.append(continuation)
                    return false
                }
                state.active += 1
                return true
            }
            if admitted { continuation.resume() }
        }
    }

    /// Ends an operation started by `enter()`.
    func leave() {
        let drained = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.active -= 1
            guard state.active == 0, let waiter = state.drainWaiter else { return nil }
            state.drainWaiter = nil
            return waiter
        }
        drained?.resume()
    }

    /// Appends `record` with the next transno (one `write()`); returns the transno.
    func append(_ record: MDTLogRecord) throws(LustreError) -> UInt64 {
        let payload = record.encoded()
        return try state.withLock { state throws(LustreError) -> UInt64 in
            let transno = state.lastTransno + 1
            var body: [UInt8] = []
            body.reserveCapacity(payload.count + 8)
            body.appendLittleEndian(transno)
            body.append(contentsOf: payload)
            var frame: [UInt8] = []
            frame.reserveCapacity(body.count + 8)
            frame.appendLittleEndian(UInt32(body.count))
            frame.appendLittleEndian(CRC32C.checksum(body))
            frame.append(contentsOf: body)
            let fd = state.file.fd
            let n = frame.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard n == frame.count else {
                let error = n < 0 ? LustreError.fromErrno("append to \(Self.fileName)")
                                  : LustreError(errno: ENOSPC, "short append to \(Self.fileName)")
                // A partial frame would hide every later record: cut it off.
                if n > 0 { _ = ftruncate(fd, off_t(state.size)); _ = lseek(fd, off_t(state.size), SEEK_SET) }
                throw error
            }
            state.size += n
            state.lastTransno = transno
            return transno
        }
    }

    /// Makes every record appended so far durable; returns the last committed transno.
    func commit() async throws(LustreError) -> UInt64 {
        let (file, target) = state.withLock { ($0.file, $0.lastTransno) }
        if target <= lastCommitted { return lastCommitted }
        let rc = await runOnOSThread(named: "mdt-sync") { fdatasync(file.fd) == 0 ? 0 : errno }
        guard rc == 0 else { throw LustreError(errno: rc, "fdatasync \(Self.fileName)") }
        advanceCommitted(to: target)
        return lastCommitted
    }

    private func advanceCommitted(to target: UInt64) {
        var current = committed.load(ordering: .relaxed)
        while current < target {
            let (exchanged, original) = committed.compareExchange(expected: current, desired: target,
                                                                  ordering: .acquiringAndReleasing)
            if exchanged { break }
            current = original
        }
    }

    /// Drains the operations in flight, runs `syncTree` (which must make the tree durable),
    /// then replaces the log by an empty one whose base is the last transno. Operations wait
    /// meanwhile. Everything appended so far counts as committed afterwards.
    func checkpoint(_ syncTree: @Sendable () async throws(LustreError) -> Void) async throws(LustreError) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let drained = state.withLock { state -> Bool in
                state.checkpointing = true
                if state.active == 0 { return true }
                state.drainWaiter = continuation
                return false
            }
            if drained { continuation.resume() }
        }
        defer {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.checkpointing = false
                state.active += state.enterWaiters.count
                defer { state.enterWaiters = [] }
                return state.enterWaiters
            }
            waiters.forEach { $0.resume() }
        }
        try await syncTree()
        let last = lastTransno
        try Self.writeEmpty(rootFD: rootFD, baseTransno: last)
        let fd = openat(rootFD, Self.fileName, O_RDWR | O_CLOEXEC)
        guard fd >= 0, lseek(fd, off_t(Self.headerSize), SEEK_SET) >= 0 else {
            throw LustreError.fromErrno("reopen \(Self.fileName)")
        }
        state.withLock {
            $0.file = File(fd: fd)
            $0.size = Self.headerSize
        }
        advanceCommitted(to: last)
    }
}
