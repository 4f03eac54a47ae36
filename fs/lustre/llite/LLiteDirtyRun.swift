import LibCFS
import NIOCore

/// Cached write data of one stripe, ready to leave in one OST write: where it goes in the
/// object and the caller buffers (slices, not copies) that hold it, sent as they are.
struct LLiteDirtyExtent: Sendable {
    var offset: UInt64
    var length: Int
    var slices: [ByteBuffer]
    /// The job that wrote it, carried by its OST write (a run holds one job's bytes).
    var jobID: String = ""
}

/// The write-back run of one stripe of one file (the dirty pages of Lustre's `osc_extent`
/// before it is sent): contiguous cached bytes of the object. Whole RPCs leave as soon as the
/// run reaches an RPC boundary of the object (offsets that are multiples of the RPC size, so a
/// stream's RPCs stay aligned and full); a write that does not continue the run, or comes from
/// another job, sends the run as it is and starts a new one.
struct LLiteDirtyRun: Sendable {
    /// Writes shorter than this are copied into a buffer of the run's own (`ownedCapacity`)
    /// instead of kept as slices: a stream of small writes (bonnie++ writes a byte per call)
    /// would otherwise hold a buffer per write and send an RPC of as many pieces.
    static let copyLimit = 16 << 10
    static let ownedCapacity = 128 << 10

    private(set) var start: UInt64 = 0
    private(set) var length = 0
    private var slices: [ByteBuffer] = []
    /// Whether the last slice is the run's own buffer, which small writes fill.
    private var lastIsOwned = false
    /// The job of every byte in the run.
    private(set) var jobID = ""
    /// When the run's oldest bytes were cached (monotonic ns): the flusher sends runs older
    /// than the write-back expiry (`LLiteFlusher`).
    private(set) var dirtiedAt: UInt64 = 0

    var isEmpty: Bool { length == 0 }
    var end: UInt64 { start + UInt64(length) }

    /// Adds `data` written by job `jobID` at object offset `offset` and returns what is ready to
    /// send, in order.
    mutating func add(offset: UInt64, data: ByteBuffer, rpcBytes: Int, jobID: String = "") -> [LLiteDirtyExtent] {
        var ready: [LLiteDirtyExtent] = []
        guard data.readableBytes > 0 else { return ready }
        if !isEmpty && (offset != end || jobID != self.jobID), let previous = takeAll() { ready.append(previous) }
        if isEmpty {
            start = offset
            self.jobID = jobID
            dirtiedAt = MonotonicClock.nanoseconds()
        }
        append(data)
        length += data.readableBytes
        let rpc = UInt64(max(rpcBytes, 1))
        while !isEmpty {
            let boundary = (start / rpc + 1) * rpc
            guard end >= boundary else { break }
            ready.append(takePrefix(Int(boundary - start)))
        }
        return ready
    }

    private mutating func append(_ data: ByteBuffer) {
        let count = data.readableBytes
        guard count < Self.copyLimit else {
            slices.append(data)
            lastIsOwned = false
            return
        }
        if lastIsOwned, slices[slices.count - 1].writableBytes >= count {
            slices[slices.count - 1].writeImmutableBuffer(data)
            return
        }
        var owned = ByteBufferAllocator().buffer(capacity: Self.ownedCapacity)
        owned.writeImmutableBuffer(data)
        slices.append(owned)
        lastIsOwned = true
    }

    /// Everything cached, as one extent; nil when empty.
    mutating func takeAll() -> LLiteDirtyExtent? {
        guard !isEmpty else { return nil }
        return takePrefix(length)
    }

    /// The first `bytes` of the run, splitting a slice if it straddles the cut.
    private mutating func takePrefix(_ bytes: Int) -> LLiteDirtyExtent {
        var taken: [ByteBuffer] = []
        var remaining = bytes
        var whole = 0
        while remaining > 0 {
            var slice = slices[whole]
            if slice.readableBytes <= remaining {
                remaining -= slice.readableBytes
                taken.append(slice)
                whole += 1
            } else {
                taken.append(slice.readSlice(length: remaining)!)
                slices[whole] = slice
                remaining = 0
            }
        }
        // Once, not per slice: removing the first of many one at a time is quadratic.
        slices.removeFirst(whole)
        if slices.isEmpty { lastIsOwned = false }
        let extent = LLiteDirtyExtent(offset: start, length: bytes, slices: taken, jobID: jobID)
        start += UInt64(bytes)
        length -= bytes
        return extent
    }
}
