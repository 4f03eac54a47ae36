import LOV
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Everything this client caches about one open file, in one place so that future LDLM locks
/// can govern it (Lustre's `ll_inode_info` with its `cl_object`): the size as this client knows
/// it, the write-back runs and writes in flight per stripe, the read-ahead chunks and the first
/// asynchronous write error. It lives while the file is open in this client; a new open after
/// the last close starts from the MDS and OSTs again (close-to-open consistency).
final class LLiteInode: Sendable {
    let fid: LustreFID
    let layout: LustreLayout?
    /// The striped data; nil for a file without objects (reads give zeros, writes fail).
    let lov: LOVObject?
    /// Called with an OST index when a writer must wait for room under that OSC's
    /// `max_dirty_mb`: the client then sends every held-back run on that OST.
    private let onDirtyWait: @Sendable (UInt32) -> Void

    private struct InFlightWrite {
        var stripe: Int
        var start: UInt64
        var end: UInt64
        var task: Task<Void, Never>
    }

    private struct State {
        var size: UInt64
        /// Written or truncated since the last close that told the MDS the size.
        var sizeChanged = false
        /// When this client last wrote or truncated the file, by its clock (as Lustre's client
        /// sets a file's mtime): the mtime the close tells the MDS. Nil once told, or once a
        /// setattr here set the times (a later write sets it again).
        var modified: MDTTime?
        var openCount = 0
        var runs: [LLiteDirtyRun]
        var inFlight: [UInt64: InFlightWrite] = [:]
        var nextWriteID: UInt64 = 0
        /// The first error of an asynchronous write, reported by the next flush (fsync, close).
        var writeError: LustreError?
        var readCache = LLiteReadCache()
        /// The OST objects' blocks as last glimpsed (or known empty at create) and when, by the
        /// monotonic clock in nanoseconds: what `glimpse(within:)` may answer from.
        var lastGlimpse: (blocks: UInt64, at: UInt64)?
    }

    private let state: Mutex<State>

    init(fid: LustreFID, layout: LustreLayout?, lov: LOVObject?, size: UInt64,
         onDirtyWait: @escaping @Sendable (UInt32) -> Void) {
        self.fid = fid
        self.layout = layout
        self.lov = lov
        self.onDirtyWait = onDirtyWait
        self.state = Mutex(State(size: size, runs: Array(repeating: LLiteDirtyRun(), count: lov?.targets.count ?? 0)))
    }

    // MARK: Opens

    /// Counts one more open handle.
    func opened() { state.withLock { $0.openCount += 1 } }

    /// Counts one handle closed; returns the handles still open.
    func closed() -> Int { state.withLock { state in state.openCount -= 1; return state.openCount } }

    var openCount: Int { state.withLock { $0.openCount } }

    // MARK: Size

    /// The size as this client knows it: the MDS's or the OSTs' at open, grown by writes here.
    var size: UInt64 { state.withLock { $0.size } }

    var sizeChanged: Bool { state.withLock { $0.sizeChanged } }

    /// Size, blocks and times from the OST objects, merged with what this client has cached
    /// and not yet sent. Without changes here since the last close told the MDS, the OSTs' size
    /// is the size, smaller or not: the MDS (where an open starts from) hears a size only at its
    /// writer's close, which FUSE sends after `close(2)` returned, so a truncate elsewhere, or
    /// through another descriptor just closed, may not have reached it. With changes here, the
    /// larger of the two (cached writes are not on the OSTs yet).
    func glimpse() async throws(LustreError) -> LOVAttributes {
        guard let lov else {
            var attributes = LOVAttributes()
            attributes.size = size
            return attributes
        }
        let asked = MonotonicClock.nanoseconds()
        var merged = try await lov.getattr()
        let (before, after) = state.withLock { state -> (UInt64, UInt64) in
            let before = state.size
            state.size = state.sizeChanged ? max(state.size, merged.size) : merged.size
            state.lastGlimpse = (merged.blocks, asked)
            if state.size != before { state.readCache.removeAll() }
            return (before, state.size)
        }
        merged.size = after
        if after != before { CDEBUG(.vfstrace, "\(fid): size \(before) -> \(after) on the OSTs") }
        return merged
    }

    /// What the last glimpse gave, if it was asked less than `maxAge` seconds ago: its size grown
    /// by this client's writes since, and its blocks (nil: ask the OSTs). What a stat of a file
    /// open here may answer, as stale at most as the kernel's attribute cache lets any
    /// attribute be (`tar` asks for a file's attributes three times while it holds it open); an
    /// open, a close, a read at the end and a seek still ask the OSTs every time.
    func recentGlimpse(within maxAge: Double) -> LOVAttributes? {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> LOVAttributes? in
            guard let last = state.lastGlimpse, now &- last.at < UInt64(maxAge * 1e9) else { return nil }
            var attributes = LOVAttributes()
            attributes.size = state.size
            attributes.blocks = last.blocks
            return attributes
        }
    }

    /// The objects were made empty just now (this client created the file): a glimpse would
    /// find nothing in them.
    func created() {
        let now = MonotonicClock.nanoseconds()
        state.withLock { $0.lastGlimpse = (0, now) }
    }

    /// Reserves `length` bytes at the end of the file for an O_APPEND write and returns where.
    func reserveAppend(_ length: Int) -> UInt64 {
        state.withLock { state in
            let offset = state.size
            state.size += UInt64(length)
            state.sizeChanged = true
            state.modified = MDTTime.now()
            return offset
        }
    }

    /// Gives back the `length` bytes at `offset` that `reserveAppend` gave a write that failed,
    /// unless a later append reserved bytes after them (then the file keeps a hole there).
    func cancelAppend(offset: UInt64, length: Int) {
        state.withLock { state in
            if state.size == offset + UInt64(length) { state.size = offset }
        }
    }

    // MARK: Write-back

    /// Caches `data` for file offset `offset` and returns: each stripe piece takes its bytes of
    /// its OSC's grant (the space its OST reserved for this client), then waits for room under
    /// the OSC's `max_dirty_mb`; full RPCs leave at once. Errors of the writes themselves come
    /// from the next `flush`. Without grant for every piece the write goes to the OSTs at once
    /// (`writeThrough`), which may write fewer bytes than given. Returns how many it took. The OST
    /// writes carry the job of the calling task, however late they leave.
    func write(offset: UInt64, data: ByteBuffer) async throws(LustreError) -> Int {
        let jobID = PtlRPCJobID.current
        let length = data.readableBytes
        guard length > 0 else { return 0 }
        guard let lov else { throw LustreError(errno: EIO, "\(fid): file has no OST objects to write to") }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        guard !overflow else { throw LustreError(errno: EFBIG, "\(fid): write at \(offset)+\(length) passes 2^64") }
        let pieces = try lov.mapping.pieces(offset: offset, length: length)
        var granted = 0
        while granted < pieces.count, lov.targets[pieces[granted].stripe].osc.grant.take(pieces[granted].length) {
            granted += 1
        }
        if granted < pieces.count {
            for piece in pieces[..<granted] { lov.targets[piece.stripe].osc.grant.giveBack(piece.length) }
            return try await writeThrough(offset: offset, data: data)
        }
        for piece in pieces {
            let target = lov.targets[piece.stripe]
            let index = target.index
            let onDirtyWait = self.onDirtyWait
            await target.dirtyLimit.acquire(piece.length, beforeWaiting: { onDirtyWait(index) })
            let slice = data.getSlice(at: data.readerIndex + Int(piece.fileOffset - offset), length: piece.length)!
            state.withLock { state in
                let ready = state.runs[piece.stripe].add(offset: piece.objectOffset, data: slice, rpcBytes: target.rpcBytes,
                                                         jobID: jobID)
                for extent in ready { send(&state, stripe: piece.stripe, extent) }
            }
        }
        let now = MDTTime.now()
        state.withLock { state in
            state.size = max(state.size, end)
            state.sizeChanged = true
            state.modified = now
        }
        return length
    }

    /// The write of `data` at `offset` when an OSC it goes to is out of grant (as Lustre's
    /// client, which then writes synchronously): what is cached goes first, then these bytes go
    /// to the OSTs at once, and their error (`ENOSPC`) is the writer's; an earlier write's error
    /// comes back here too; a write an OST refused after its first stripe piece is short (the
    /// bytes before that piece). The replies bring grant back when the OST has room to give.
    private func writeThrough(offset: UInt64, data: ByteBuffer) async throws(LustreError) -> Int {
        guard let lov else { return 0 }
        CDEBUG(.cache, "\(fid): out of grant, writing \(offset)+\(data.readableBytes) through")
        try await flush()
        // Once the OSTs answered (an OST may have taken some bytes before it failed), reads
        // must not serve what was read before.
        defer { state.withLock { $0.readCache.removeAll() } }
        let written = try await lov.write(offset: offset, data: data)
        let now = MDTTime.now()
        state.withLock { state in
            state.size = max(state.size, offset + UInt64(written))
            state.sizeChanged = true
            state.modified = now
        }
        return written
    }

    /// Starts the OST write of `extent`, after any earlier write in flight that overlaps it, so
    /// overlapping writes land in the order they were made.
    private func send(_ state: inout State, stripe: Int, _ extent: LLiteDirtyExtent) {
        guard let lov else { return }
        let end = extent.offset + UInt64(extent.length)
        let earlier = state.inFlight.values.filter { $0.stripe == stripe && $0.start < end && extent.offset < $0.end }
            .map(\.task)
        let id = state.nextWriteID
        state.nextWriteID += 1
        let task = Task {
            for write in earlier { await write.value }
            var failure: LustreError?
            do throws(LustreError) {
                try await lov.writeObject(stripe: stripe, offset: extent.offset, parts: extent.slices,
                                          jobID: extent.jobID, fromGrant: true)
            } catch {
                failure = error
            }
            lov.targets[stripe].dirtyLimit.release(extent.length)
            self.state.withLock { state in
                state.inFlight[id] = nil
                // Only now, not when the write is cached: a read fetching this range meanwhile
                // (concurrent with the write; a later read drains first) got it from before.
                state.readCache.invalidate(stripe: stripe, objectStart: extent.offset, objectEnd: end)
                if let failure, state.writeError == nil { state.writeError = failure }
            }
        }
        state.inFlight[id] = InFlightWrite(stripe: stripe, start: extent.offset, end: end, task: task)
    }

    /// Sends the held-back (partly filled) runs of stripes on OST `ostIndex`, or of every stripe.
    func sendHeldBack(ostIndex: UInt32? = nil) {
        guard let lov else { return }
        state.withLock { state in
            for stripe in state.runs.indices where ostIndex == nil || lov.targets[stripe].index == ostIndex {
                if let extent = state.runs[stripe].takeAll() { send(&state, stripe: stripe, extent) }
            }
        }
    }

    /// Sends the held-back runs whose oldest bytes were cached before `cutoff` (monotonic ns):
    /// the flusher's write-back of data cached too long (`LLiteFlusher`).
    func sendExpired(before cutoff: UInt64) {
        state.withLock { state in
            for stripe in state.runs.indices where !state.runs[stripe].isEmpty && state.runs[stripe].dirtiedAt <= cutoff {
                if let extent = state.runs[stripe].takeAll() { send(&state, stripe: stripe, extent) }
            }
        }
    }

    /// Whether anything written is not yet acknowledged by its OST.
    var hasDirtyData: Bool {
        state.withLock { state in !state.inFlight.isEmpty || state.runs.contains { !$0.isEmpty } }
    }

    /// Sends everything cached and waits until the OSTs have answered every write made before
    /// the call; throws the first asynchronous write error since the last flush.
    func flush() async throws(LustreError) {
        await drain()
        if let error = state.withLock({ state -> LustreError? in
            defer { state.writeError = nil }
            return state.writeError
        }) {
            throw error
        }
    }

    /// Sends everything cached and waits for the answers, leaving any error for `flush`.
    private func drain() async {
        sendHeldBack()
        let writes = state.withLock { $0.inFlight.values.map(\.task) }
        for write in writes { await write.value }
    }

    /// Sends what is cached of file bytes `[offset, end)` and waits for the writes in flight
    /// over them, leaving the other cached writes where they are: a read needs the OSTs to have
    /// this client's writes of its own bytes only (Lustre's page cache keeps dirty pages beside
    /// the ones read). A read-ahead chunk fetched over another cached write is dropped when
    /// that write is answered (`send`), before any read of its bytes can use it.
    private func drain(offset: UInt64, end: UInt64) async {
        guard let lov, offset < end else { return }
        let mapping = lov.mapping
        let writes = state.withLock { state -> [Task<Void, Never>] in
            var writes: [Task<Void, Never>] = []
            for stripe in state.runs.indices {
                let low = mapping.objectSize(forFileSize: offset, stripe: stripe)
                let high = mapping.objectSize(forFileSize: end, stripe: stripe)
                guard low < high else { continue }
                let run = state.runs[stripe]
                if !run.isEmpty, run.start < high, low < run.end, let extent = state.runs[stripe].takeAll() {
                    send(&state, stripe: stripe, extent)
                }
                for write in state.inFlight.values where write.stripe == stripe && write.start < high && low < write.end {
                    writes.append(write.task)
                }
            }
            return writes
        }
        for write in writes { await write.value }
    }

    /// `flush`, then OST_SYNC on every OST of the file: the data is committed when it returns.
    func fsync() async throws(LustreError) {
        try await flush()
        try await lov?.sync()
    }

    /// Sets the size on the OSTs (objects truncated or extended to their share) after flushing.
    func truncate(to size: UInt64) async throws(LustreError) {
        try await flush()
        state.withLock { $0.readCache.removeAll() }
        try await lov?.truncate(to: size)
        let now = MDTTime.now()
        state.withLock { state in
            state.lastGlimpse = nil
            state.size = size
            state.sizeChanged = true
            state.modified = now
            state.readCache.removeAll()
        }
    }

    /// `lseek(2)`'s `SEEK_DATA` (`data`) or `SEEK_HOLE` from `offset`, after flushing (writes
    /// cached here count once they are on the OSTs), against the glimpsed size: nil is `ENXIO`.
    func seek(offset: UInt64, data: Bool) async throws(LustreError) -> UInt64? {
        guard let lov else { return nil }  // no objects: an empty file
        try await flush()
        return try await lov.seek(offset: offset, data: data, fileSize: try await glimpse().size)
    }

    /// `fallocate(2)` of file bytes `[start, end)` after flushing: their blocks allocated on the
    /// OSTs (the file grows to `end` unless `.keepSize`), or with `.punchHole` freed (reads give
    /// zeros, the size stays). The MDS hears the size and mtime at close.
    func fallocate(start: UInt64, end: UInt64, mode: FallocateMode) async throws(LustreError) {
        guard let lov else { throw LustreError(errno: EOPNOTSUPP, "\(fid): file has no OST objects to allocate") }
        try await flush()
        if mode.contains(.punchHole) {
            try await lov.punch(start: start, end: end)
        } else {
            try await lov.fallocate(start: start, end: end, keepSize: mode.contains(.keepSize))
        }
        let now = MDTTime.now()
        state.withLock { state in
            state.lastGlimpse = nil
            if !mode.contains(.keepSize) { state.size = max(state.size, end) }
            state.sizeChanged = true
            state.modified = now
            state.readCache.removeAll()
        }
    }

    /// For close: flushes, and when this client changed the file, returns what to tell the MDS;
    /// nil when nothing changed.
    func attributesForClose() async throws(LustreError) -> LustreFile.Closed? {
        try await flush()
        guard sizeChanged else { return nil }
        let merged = try await glimpse()
        let mtime = state.withLock { state -> MDTTime? in
            state.sizeChanged = false
            defer { state.modified = nil }
            return state.modified
        }
        return LustreFile.Closed(size: merged.size, blocks: merged.blocks, mtime: mtime)
    }

    /// The last change here, by this client's clock (nil: none since the MDS was told, or the
    /// times were set since): what the file's mtime is at least while it is open here.
    var modified: MDTTime? { state.withLock { $0.modified } }

    /// A setattr here set the file's times: the changes before it no longer decide the mtime.
    func timesSet() { state.withLock { $0.modified = nil } }

    /// Drops every cache (last close).
    func dropCaches() { state.withLock { $0.readCache.removeAll() } }

    // MARK: Reads

    /// Reads up to `length` bytes at `offset`, short at the end of the file; holes read as
    /// zeros. Cached writes of these bytes are sent first so the OSTs have them. `readAhead`
    /// bytes past the read are fetched ahead in whole RPC-sized chunks per stripe (0: a direct
    /// read of just what is asked, for random access).
    func read(offset: UInt64, length: Int, readAhead: UInt64) async throws(LustreError) -> ByteBuffer {
        guard length > 0 else { return ByteBuffer() }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        // The OSTs must have this client's writes of these bytes; their errors are still
        // reported by fsync/close.
        await drain(offset: offset, end: overflow ? .max : end)
        var size = self.size
        if overflow || end > size {
            // Reads near the end look at the OSTs again, in case another client wrote further.
            size = try await glimpse().size
        }
        guard offset < size else { return ByteBuffer() }
        let want = Int(min(UInt64(length), size - offset))
        guard let lov else { return Self.zeros(want) }
        if readAhead == 0 {
            state.withLock { $0.readCache.removeAll() }
            return try await lov.read(offset: offset, length: want, fileSize: size)
        }
        return try await readCached(lov, offset: offset, want: want, size: size, readAhead: readAhead)
    }

    private func readCached(_ lov: LOVObject, offset: UInt64, want: Int, size: UInt64,
                            readAhead: UInt64) async throws(LustreError) -> ByteBuffer {
        let mapping = lov.mapping
        let pieces = try mapping.pieces(offset: offset, length: want)
        let readEnd = offset + UInt64(want)
        let aheadEnd = min(size, readEnd + readAhead)
        var needed: [LLiteReadCache.Key] = []
        for piece in pieces {
            for key in LLiteReadCache.keys(stripe: piece.stripe, objectStart: piece.objectOffset,
                                           objectEnd: piece.objectEnd, chunkBytes: lov.targets[piece.stripe].rpcBytes)
            where needed.last != key {
                needed.append(key)
            }
        }
        var wanted = needed
        for stripe in lov.targets.indices {
            wanted += LLiteReadCache.keys(stripe: stripe, objectStart: mapping.objectSize(forFileSize: readEnd, stripe: stripe),
                                          objectEnd: mapping.objectSize(forFileSize: aheadEnd, stripe: stripe),
                                          chunkBytes: lov.targets[stripe].rpcBytes)
        }
        let chunks = state.withLock { state -> [LLiteReadCache.Key: LLiteReadCache.Chunk] in
            // Reads of a stream arrive out of order (FUSE keeps several in flight): what lies
            // a little behind this one may still be asked for.
            let behind = offset - min(offset, LLiteReadAhead.reorder)
            state.readCache.trim(low: { mapping.objectSize(forFileSize: behind, stripe: $0) },
                                 high: { stripe in
                                     mapping.objectSize(forFileSize: aheadEnd, stripe: stripe)
                                         + UInt64(lov.targets[stripe].rpcBytes) })
            for key in wanted where state.readCache[key] == nil {
                let chunkBytes = lov.targets[key.stripe].rpcBytes
                let objectSize = mapping.objectSize(forFileSize: size, stripe: key.stripe)
                let length = objectSize > key.start ? Int(min(UInt64(chunkBytes), objectSize - key.start)) : 0
                let fetch = Task { () -> Result<ByteBuffer, LustreError> in
                    guard length > 0 else { return .success(ByteBuffer()) }
                    do throws(LustreError) {
                        return .success(try await lov.readObject(stripe: key.stripe, offset: key.start, length: length))
                    } catch {
                        return .failure(error)
                    }
                }
                state.readCache.insert(LLiteReadCache.Chunk(length: chunkBytes, fetch: fetch), for: key)
            }
            var chunks: [LLiteReadCache.Key: LLiteReadCache.Chunk] = [:]
            for key in needed { chunks[key] = state.readCache[key] }
            return chunks
        }
        var data: [LLiteReadCache.Key: ByteBuffer] = [:]
        for key in needed {
            guard let chunk = chunks[key] else { continue }
            switch await chunk.fetch.value {
            case .success(let buffer): data[key] = buffer
            case .failure(let error):
                state.withLock { $0.readCache.invalidate(stripe: key.stripe, objectStart: key.start, objectEnd: key.start + 1) }
                throw error
            }
        }
        // One piece inside one fetched chunk: hand out a slice of it, no copy.
        if pieces.count == 1, needed.count == 1, let buffer = data[needed[0]] {
            let skip = Int(pieces[0].objectOffset - needed[0].start)
            if buffer.readableBytes >= skip + want {
                return buffer.getSlice(at: buffer.readerIndex + skip, length: want)!
            }
        }
        var result = ByteBufferAllocator().buffer(capacity: want)
        result.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { destination in
            for piece in pieces {
                let chunkBytes = UInt64(lov.targets[piece.stripe].rpcBytes)
                var position = piece.objectOffset
                while position < piece.objectEnd {
                    let chunkStart = position / chunkBytes * chunkBytes
                    let stop = min(piece.objectEnd, chunkStart + chunkBytes)
                    let at = Int(piece.fileOffset - offset + (position - piece.objectOffset))
                    let count = Int(stop - position)
                    var copied = 0
                    if let buffer = data[LLiteReadCache.Key(stripe: piece.stripe, start: chunkStart)] {
                        let skip = Int(position - chunkStart)
                        copied = min(max(0, buffer.readableBytes - skip), count)
                        if copied > 0 {
                            _ = buffer.withUnsafeReadableBytes { source in
                                memcpy(destination.baseAddress! + at, source.baseAddress! + skip, copied)
                            }
                        }
                    }
                    if copied < count { memset(destination.baseAddress! + at + copied, 0, count - copied) }
                    position = stop
                }
            }
            return want
        }
        return result
    }

    private static func zeros(_ count: Int) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeRepeatingByte(0, count: count)
        return buffer
    }
}
