import LOV
import LibCFS
import NIOCore
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One open of a file (Lustre's `ll_file_data`): the MDS open handle, the access mode and the
/// read-ahead state of this descriptor; data and size live in the file's `LLiteInode`, shared by
/// every open of it in this client.
public final class LustreFile: Sendable {
    public let fid: LustreFID
    /// The open flags (`O_RDONLY`/`O_WRONLY`/`O_RDWR`, `O_APPEND`, ...).
    public let flags: Int32
    /// The file's layout, with its objects (nil for a file without any).
    public var layout: LustreLayout? { inode.layout }
    /// The MDS's attributes at open: whole for a file this open's create made (empty, nothing on
    /// the OSTs yet); otherwise size and blocks are the MDS's (`size` asks the OSTs).
    public let openAttributes: MDTAttributes

    private let client: LustreClient
    let inode: LLiteInode
    private let handle: UInt64
    private struct State {
        var closed = false
        var readAhead = LLiteReadAhead()
    }
    private let state = Mutex(State())

    init(client: LustreClient, inode: LLiteInode, handle: UInt64, flags: Int32, openAttributes: MDTAttributes) {
        self.client = client
        self.openAttributes = openAttributes
        self.inode = inode
        self.handle = handle
        self.flags = flags
        self.fid = inode.fid
    }

    private var canRead: Bool { flags & O_ACCMODE != O_WRONLY }
    private var canWrite: Bool { flags & O_ACCMODE != O_RDONLY }

    private func checkOpen(_ what: String) throws(LustreError) {
        if state.withLock({ $0.closed }) { throw LustreError(errno: EBADF, "\(what) of \(fid) after close") }
    }

    /// Reads up to `length` bytes at `offset`: fewer at the end of the file, none past it. Holes
    /// read as zeros. A sequential stream is read ahead (`max_read_ahead_mb`).
    public func read(offset: UInt64, length: Int) async throws(LustreError) -> ByteBuffer {
        try checkOpen("read")
        guard canRead else { throw LustreError(errno: EBADF, "read of \(fid) opened write-only") }
        guard length >= 0 else { throw .invalid("read of \(length) bytes") }
        let maximum = UInt64(client.maxReadAheadMB.value) << 20
        let minimum = UInt64(inode.lov.map { lov in lov.targets.reduce(0) { $0 + $1.rpcBytes } } ?? 0)
        let window = state.withLock { $0.readAhead.record(offset: offset, length: length, minimumWindow: minimum,
                                                          maximum: maximum) }
        let data = try await inode.read(offset: offset, length: length, readAhead: window)
        client.stats.record(LLiteStat.readBytes, Int64(data.readableBytes))
        return data
    }

    /// Writes `data` at `offset` (at the end of the file when opened with `O_APPEND`). Write-back:
    /// returns once the data is cached, waiting only while an OSC's `max_dirty_mb` is reached;
    /// errors of the OST writes come back from `fsync` or `close`. Returns how many bytes were
    /// written: fewer than given only when an OST ran out of space after the first of them.
    @discardableResult
    public func write(offset: UInt64, data: ByteBuffer) async throws(LustreError) -> Int {
        if flags & O_APPEND != 0 {
            return try await append(data).written
        }
        try checkOpen("write")
        guard canWrite else { throw LustreError(errno: EBADF, "write to \(fid) opened read-only") }
        let written = try await inode.write(offset: offset, data: data)
        client.stats.record(LLiteStat.writeBytes, Int64(written))
        return written
    }

    /// Writes `data` at the end of the file as this client knows it (O_APPEND); returns the
    /// offset it was written at and how many bytes were (fewer than given only when an OST ran
    /// out of space after the first). Appends through this client never overlap.
    @discardableResult
    public func append(_ data: ByteBuffer) async throws(LustreError) -> (offset: UInt64, written: Int) {
        try checkOpen("append")
        guard canWrite else { throw LustreError(errno: EBADF, "append to \(fid) opened read-only") }
        let length = data.readableBytes
        let offset = inode.reserveAppend(length)
        let written: Int
        do {
            written = try await inode.write(offset: offset, data: data)
        } catch {
            // A full OST (`ENOSPC`): the file does not grow by what it did not take.
            inode.cancelAppend(offset: offset, length: length)
            throw error
        }
        if written < length { inode.cancelAppend(offset: offset + UInt64(written), length: length - written) }
        client.stats.record(LLiteStat.writeBytes, Int64(written))
        return (offset, written)
    }

    /// Returns once everything written so far is committed on every OST of the file.
    public func fsync() async throws(LustreError) {
        try checkOpen("fsync")
        try await client.stats.timed(.fsync) { () async throws(LustreError) in try await inode.fsync() }
    }

    /// Sets the file's size: the OST objects are truncated or extended, the MDS hears at close.
    public func truncate(_ size: UInt64) async throws(LustreError) {
        try checkOpen("truncate")
        guard canWrite else { throw LustreError(errno: EBADF, "truncate of \(fid) opened read-only") }
        try await client.stats.timed(.truncate) { () async throws(LustreError) in try await inode.truncate(to: size) }
    }

    /// The size as this client last knew it (its writes, the OSTs' glimpse at open), without
    /// asking the OSTs again.
    public var knownSize: UInt64 { inode.size }

    /// The size: cached writes and the OST objects merged.
    public var size: UInt64 {
        get async { (try? await inode.glimpse().size) ?? inode.size }
    }

    /// `lseek(2)` with `SEEK_DATA` (`data`) or `SEEK_HOLE` from `offset` (Lustre's `ll_lseek`:
    /// `OST_SEEK` on every object): where the next data or hole begins; `ENXIO` when `offset` is
    /// at or past the end, or no data follows it. The end of the file is a hole.
    public func seek(offset: UInt64, data: Bool) async throws(LustreError) -> UInt64 {
        try checkOpen("lseek")
        let found = try await client.stats.timed(.seek) { () async throws(LustreError) in
            try await inode.seek(offset: offset, data: data)
        }
        guard let found else {
            throw LustreError(errno: ENXIO, "lseek \(data ? "SEEK_DATA" : "SEEK_HOLE") of \(fid) from \(offset)")
        }
        return found
    }

    /// `fallocate(2)` with `mode` 0 (allocate; the file grows to `offset + length`),
    /// `FALLOC_FL_KEEP_SIZE`, or `FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE` (free the range;
    /// reads give zeros); other modes are `EOPNOTSUPP`. Lustre's `OST_FALLOCATE` and `OST_PUNCH`
    /// on every object that holds part of the range.
    public func fallocate(mode: FallocateMode, offset: UInt64, length: UInt64) async throws(LustreError) {
        try checkOpen("fallocate")
        guard canWrite else { throw LustreError(errno: EBADF, "fallocate of \(fid) opened read-only") }
        guard [[], .keepSize, [.punchHole, .keepSize]].contains(mode) else {
            throw LustreError(errno: EOPNOTSUPP, "fallocate of \(fid): mode 0x\(String(mode.rawValue, radix: 16))")
        }
        guard length > 0 else { throw .invalid("fallocate of \(fid): length 0") }
        let (end, overflow) = offset.addingReportingOverflow(length)
        guard !overflow, end <= UInt64(Int64.max) else {
            throw LustreError(errno: EFBIG, "fallocate of \(fid) at \(offset)+\(length)")
        }
        try await client.stats.timed(.fallocate) { () async throws(LustreError) in
            try await inode.fallocate(start: offset, end: end, mode: mode)
        }
    }

    /// `close(2)` of a descriptor that wrote to this file (Lustre's `ll_flush`, `flush` in
    /// `llite.*.stats`): the writes go to the OSTs now and their answers are waited for, so close
    /// reports their errors and another client's open sees the bytes. Not committed: that is
    /// `fsync`'s (as on Lustre, whose close does not sync either); until the OSTs commit, the
    /// client keeps the writes to replay if an OSS restarts.
    public func flush() async throws(LustreError) {
        try checkOpen("flush")
        try await client.stats.timed(.flush) { () async throws(LustreError) in try await inode.flush() }
    }

    /// `close(2)` of a descriptor that wrote nothing: nothing to wait for, only counted.
    public func flushUnwritten() {
        client.stats.record(LLiteStat.flush, 0)
    }

    /// Flushes cached writes, then closes the MDS handle with the size, blocks and mtime if this
    /// client changed the file; a file not changed here is closed at the MDS in the background
    /// (`MDCDevice.closeLater`, batched). A second close is EBADF. The first write error is
    /// thrown, after the handle is closed anyway. Returns what the close told the MDS (nil: the
    /// file was not changed here), so a cache of the attributes (the kernel's) can follow.
    @discardableResult
    public func close() async throws(LustreError) -> Closed? {
        let already = state.withLock { state -> Bool in
            defer { state.closed = true }
            return state.closed
        }
        if already { throw LustreError(errno: EBADF, "close of \(fid) twice") }
        return try await client.stats.timed(.close) { () async throws(LustreError) in
            var firstError: LustreError?
            var told: LustreFile.Closed?
            // Before the changes are taken: a setattr of the times from now on waits for this close.
            let changed = inode.sizeChanged
            if changed { client.closedAttributes.begin(fid) }
            do throws(LustreError) {
                told = try await inode.attributesForClose()
            } catch {
                firstError = error
            }
            // Before the inode goes: a getattr meanwhile must not show the MDS's old size.
            if let told { client.closedAttributes.closing(fid, told) }
            client.inodes.close(inode)
            client.untrack(self)
            if let told {
                do throws(LustreError) {
                    try await client.mdc.close(handle: handle, size: told.size, blocks: told.blocks, mtime: told.mtime)
                } catch {
                    firstError = firstError ?? error
                }
            } else {
                // Nothing to tell the MDS but the close: it goes in the background, batched.
                client.mdc.closeLater(handle: handle)
            }
            if changed || told != nil { client.closedAttributes.answered(fid) }
            if let firstError { throw firstError }
            return told
        }
    }

    /// What a close tells the MDS of a file changed here: its size and blocks (merged from the
    /// OSTs) and, unless a setattr set the times since, the mtime of the last change here.
    public struct Closed: Sendable, Equatable {
        public var size: UInt64
        public var blocks: UInt64
        public var mtime: MDTTime?
    }
}
