import LibCFS
import NIOCore
import OSC
import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// What the OST objects of a file say about it together (`lov_merge_lvb`).
public struct LOVAttributes: Equatable, Sendable {
    /// The file size implied by the objects: the largest over stripes of the object's end mapped
    /// back into the file.
    public var size: UInt64 = 0
    /// 512-byte blocks over all objects.
    public var blocks: UInt64 = 0
    /// Latest modification and change times over all objects (seconds).
    public var mtime: Int64 = 0
    public var ctime: Int64 = 0

    public init() {}
}

/// A striped file's data on the OSTs (Lustre's `lov_object`): its layout, the mapping, and the
/// target of every stripe. Every operation is cut into per-stripe pieces that go to all OSTs at
/// once; each OSC then bounds its own RPCs in flight. No caching here: that is llite's.
public struct LOVObject: Sendable {
    public let layout: LustreLayout
    public let mapping: LOVStripeMapping
    /// The target of each stripe, in stripe order.
    public let targets: [LOVTarget]

    /// The object of an instantiated layout on `device`; `EIO` if an OST of the layout has no
    /// OSC, `EINVAL` for a layout without objects.
    public init(layout: LustreLayout, device: LOVDevice) throws(LustreError) {
        self.layout = layout
        self.mapping = try LOVStripeMapping(layout: layout)
        var targets: [LOVTarget] = []
        targets.reserveCapacity(layout.objects.count)
        for object in layout.objects { targets.append(try device.target(object.ostIndex)) }
        self.targets = targets
    }

    /// The OST object of stripe `stripe`.
    public func objectID(_ stripe: Int) -> OSTObjectID { layout.objects[stripe].id }

    // MARK: Data

    /// Reads `[offset, offset + length)` of stripe `stripe`'s object; short at its end. The RPCs
    /// carry `jobID` (nil: the calling task's `PtlRPCJobID.current`).
    public func readObject(stripe: Int, offset: UInt64, length: Int,
                           jobID: String? = nil) async throws(LustreError) -> ByteBuffer {
        try await targets[stripe].osc.read(object: objectID(stripe), offset: offset, length: length, jobID: jobID)
    }

    /// Writes `data` at `offset` of stripe `stripe`'s object for `jobID` (nil: the calling
    /// task's); returns the transno.
    @discardableResult
    public func writeObject(stripe: Int, offset: UInt64, data: ByteBuffer,
                            jobID: String? = nil) async throws(LustreError) -> UInt64 {
        try await targets[stripe].osc.write(object: objectID(stripe), offset: offset, data: data, jobID: jobID)
    }

    /// Writes `parts` back to back at `offset` of stripe `stripe`'s object, none copied; returns
    /// the transno.
    @discardableResult
    public func writeObject(stripe: Int, offset: UInt64, parts: [ByteBuffer],
                            jobID: String? = nil, fromGrant: Bool = false) async throws(LustreError) -> UInt64 {
        try await targets[stripe].osc.write(object: objectID(stripe), offset: offset, parts: parts, jobID: jobID,
                                            fromGrant: fromGrant)
    }

    /// Reads `length` bytes of the file at `offset`, of which the file has `fileSize`: the result
    /// is `min(length, fileSize - offset)` bytes (empty at or past the end), holes and the parts
    /// of objects shorter than their stripe range read as zeros. One OST read per stripe, all at
    /// once; a read within one stripe unit returns the OSC's buffer itself.
    public func read(offset: UInt64, length: Int, fileSize: UInt64) async throws(LustreError) -> ByteBuffer {
        guard length >= 0 else { throw .invalid("negative read length \(length)") }
        guard offset < fileSize, length > 0 else { return ByteBuffer() }
        let want = Int(min(UInt64(length), fileSize - offset))
        let pieces = try mapping.pieces(offset: offset, length: want)
        if pieces.count == 1 {
            let piece = pieces[0]
            let data = try await readObject(stripe: piece.stripe, offset: piece.objectOffset, length: piece.length)
            if data.readableBytes == piece.length { return data }
            return Self.assemble(want: want, pieces: pieces, runs: [piece.stripe: (piece.objectOffset, data)])
        }
        // Per stripe, the pieces of a contiguous file range are contiguous in the object.
        var spans: [Int: (start: UInt64, end: UInt64)] = [:]
        for piece in pieces {
            if let span = spans[piece.stripe] {
                spans[piece.stripe] = (min(span.start, piece.objectOffset), max(span.end, piece.objectEnd))
            } else {
                spans[piece.stripe] = (piece.objectOffset, piece.objectEnd)
            }
        }
        let runs = try await withTypedTaskGroup(spans.map { ($0.key, $0.value) }) { (entry) async throws(LustreError) in
            let (stripe, span) = entry
            return (stripe, (span.start, try await self.readObject(stripe: stripe, offset: span.start,
                                                                   length: Int(span.end - span.start))))
        }
        return Self.assemble(want: want, pieces: pieces, runs: Dictionary(uniqueKeysWithValues: runs))
    }

    /// Copies each piece out of its stripe's run, zero-filling what the run does not cover.
    static func assemble(want: Int, pieces: [LOVPiece], runs: [Int: (start: UInt64, data: ByteBuffer)]) -> ByteBuffer {
        var result = ByteBufferAllocator().buffer(capacity: want)
        let base = pieces.first?.fileOffset ?? 0
        result.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { destination in
            for piece in pieces {
                let at = Int(piece.fileOffset - base)
                var copied = 0
                if let run = runs[piece.stripe] {
                    let skip = Int(piece.objectOffset - run.start)
                    let available = max(0, run.data.readableBytes - skip)
                    copied = min(available, piece.length)
                    if copied > 0 {
                        _ = run.data.withUnsafeReadableBytes { source in
                            memcpy(destination.baseAddress! + at, source.baseAddress! + skip, copied)
                        }
                    }
                }
                if copied < piece.length {
                    memset(destination.baseAddress! + at + copied, 0, piece.length - copied)
                }
            }
            return want
        }
        return result
    }

    /// Writes `data` at file offset `offset` straight to the OSTs (no write-back), one stripe
    /// piece after the other in file order; returns how many bytes from `offset` on were written:
    /// all, or those before the piece an OST refused (a short write, as Lustre's when an OST fills
    /// in the middle of a write, and as a local file system's). Throws that OST's error when it
    /// refused the first piece. In order, so that nothing past a refused piece is written: a
    /// client writes this way only when out of grant, that is near a full OST.
    @discardableResult
    public func write(offset: UInt64, data: ByteBuffer) async throws(LustreError) -> Int {
        let pieces = try mapping.pieces(offset: offset, length: data.readableBytes)
        let base = data.readerIndex
        for piece in pieces {
            let slice = data.getSlice(at: base + Int(piece.fileOffset - offset), length: piece.length)!
            do throws(LustreError) {
                _ = try await writeObject(stripe: piece.stripe, offset: piece.objectOffset, data: slice)
            } catch {
                let written = Int(piece.fileOffset - offset)
                guard written > 0 else { throw error }
                CDEBUG(.cache, "lov: write at \(offset)+\(data.readableBytes) short at \(written) bytes: \(error)")
                return written
            }
        }
        return data.readableBytes
    }

    // MARK: Attributes

    /// Size, blocks and times merged from a getattr of every object, all at once.
    public func getattr() async throws(LustreError) -> LOVAttributes {
        let all = try await withTypedTaskGroup(Array(targets.indices)) { (stripe) async throws(LustreError) in
            (stripe, try await self.targets[stripe].osc.getattr(self.objectID(stripe)))
        }
        var merged = LOVAttributes()
        for (stripe, attributes) in all {
            merged.size = max(merged.size, mapping.fileSize(stripe: stripe, objectSize: attributes.size))
            merged.blocks += attributes.blocks
            merged.mtime = max(merged.mtime, attributes.mtime)
            merged.ctime = max(merged.ctime, attributes.ctime)
        }
        return merged
    }

    /// Sets the file's size to `fileSize` on the OSTs: each object is truncated or extended to
    /// its share (`lov_size_to_stripe`), all at once.
    public func truncate(to fileSize: UInt64) async throws(LustreError) {
        _ = try await withTypedTaskGroup(Array(targets.indices)) { (stripe) async throws(LustreError) in
            try await self.targets[stripe].osc.punch(self.objectID(stripe),
                                                     start: self.mapping.objectSize(forFileSize: fileSize, stripe: stripe))
        }
    }

    /// Allocates the blocks of file bytes `[start, end)` on every object that holds some of them,
    /// all at once (`fallocate(2)`); without `keepSize` the objects grow to their share of `end`.
    public func fallocate(start: UInt64, end: UInt64, keepSize: Bool) async throws(LustreError) {
        try await eachObjectRange(start: start, end: end) { (osc, id, from, to) async throws(LustreError) in
            try await osc.fallocate(id, start: from, end: to, keepSize: keepSize)
        }
    }

    /// Frees file bytes `[start, end)` (reads give zeros), keeping every object's size.
    public func punch(start: UInt64, end: UInt64) async throws(LustreError) {
        try await eachObjectRange(start: start, end: end) { (osc, id, from, to) async throws(LustreError) in
            try await osc.punch(id, start: from, end: to)
        }
    }

    /// `lseek(2)`'s `SEEK_DATA` (`data`) or `SEEK_HOLE` from file byte `offset` of a file of
    /// `fileSize` bytes (`ll_lseek`): every object is asked for its next data or hole from its
    /// first byte at or after `offset` (`OST_SEEK`, all at once), and the nearest answer, mapped
    /// back into the file, is the file's. nil: `ENXIO` (`offset` at or past the end, or no data
    /// after it). The file's end is a hole.
    public func seek(offset: UInt64, data: Bool, fileSize: UInt64) async throws(LustreError) -> UInt64? {
        guard offset < fileSize else { return nil }
        let found = try await withTypedTaskGroup(Array(targets.indices)) { (stripe) async throws(LustreError) -> UInt64? in
            let from = self.mapping.objectSize(forFileSize: offset, stripe: stripe)
            guard let at = try await self.targets[stripe].osc.seek(self.objectID(stripe), offset: from, data: data) else {
                return nil
            }
            return self.mapping.fileOffset(stripe: stripe, objectOffset: at)
        }
        let nearest = found.compactMap { $0 }.min()
        if data { return nearest.flatMap { $0 < fileSize ? $0 : nil } }
        return min(nearest ?? fileSize, fileSize)
    }

    /// Runs `body` at once for the part of each object that holds file bytes `[start, end)`.
    private func eachObjectRange(
        start: UInt64, end: UInt64,
        _ body: @escaping @Sendable (OSCDevice, OSTObjectID, UInt64, UInt64) async throws(LustreError) -> UInt64
    ) async throws(LustreError) {
        _ = try await withTypedTaskGroup(mapping.objectRanges(start: start, end: end)) { (range) async throws(LustreError) in
            try await body(self.targets[range.stripe].osc, self.objectID(range.stripe), range.start, range.end)
        }
    }

    /// Makes everything written to the file's OSTs durable (OST_SYNC on each, all at once).
    public func sync() async throws(LustreError) {
        var seen = Set<UInt32>()
        let distinct = targets.filter { seen.insert($0.index).inserted }
        _ = try await withTypedTaskGroup(distinct) { (target) async throws(LustreError) in
            try await target.osc.sync()
        }
    }
}

/// Runs `body` for every element concurrently and returns the results in no particular order;
/// the first error is thrown after all have finished.
public func withTypedTaskGroup<Element: Sendable, Result: Sendable>(
    _ elements: [Element], _ body: @escaping @Sendable (Element) async throws(LustreError) -> Result
) async throws(LustreError) -> [Result] {
    if elements.count == 1 { return [try await body(elements[0])] }
    let outcomes = await withTaskGroup(of: Swift.Result<Result, LustreError>.self) { group in
        for element in elements {
            group.addTask {
                do throws(LustreError) { return .success(try await body(element)) } catch { return .failure(error) }
            }
        }
        var outcomes: [Swift.Result<Result, LustreError>] = []
        outcomes.reserveCapacity(elements.count)
        for await outcome in group { outcomes.append(outcome) }
        return outcomes
    }
    var results: [Result] = []
    results.reserveCapacity(outcomes.count)
    for outcome in outcomes {
        switch outcome {
        case .success(let value): results.append(value)
        case .failure(let error): throw error
        }
    }
    return results
}
