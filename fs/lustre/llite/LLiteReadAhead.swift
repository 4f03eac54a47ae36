/// Sequential-stream detection of one open file (Lustre's `ll_readahead_state`): reads that
/// start where the previous ones ended (give or take `tolerance`) form a stream, and the
/// read-ahead window of a stream doubles with every read, from one RPC per stripe up to
/// `max_read_ahead_mb`. Any other read ends the stream and the window. A stream starts at the
/// beginning of the file, or after a seek once two reads in a row have continued it: a random
/// read that happens to land near the previous one (1 in 256 for 4 KiB reads of a 512 MiB file)
/// would otherwise fetch a whole window (one RPC per stripe, 8 MiB) for 4 KiB.
///
/// Once a stream is open, reads arrive out of order: FUSE keeps the kernel's read-ahead
/// (`read_ahead_kb`, 8 MiB, up to two windows) in flight as 1 MiB reads, served by several
/// threads and tasks. A read inside the window around the furthest one (up to `reorder` behind
/// it, up to the window ahead) still belongs to the stream (Lustre's "read in the window" hit)
/// instead of ending it, which would drop the read-ahead data its neighbours are about to use.
///
/// How far off a read may land and still count scales with its length (`reach`): the kernel's
/// read-ahead comes in large reads, while small reads come from an application itself, in
/// order or nearly (an `O_DIRECT` reader's queue). A random 4 KiB reader of a file of a few
/// MiB would otherwise land "in the window" at nearly every read, keep a stream open for good
/// and fetch whole windows for 4 KiB reads.
struct LLiteReadAhead: Sendable {
    /// How far off the expected offset a read may start and still continue the stream.
    static let tolerance: UInt64 = 1 << 20
    /// How far behind the furthest read of an open stream a read may start and still belong to
    /// it: the reads FUSE has in flight at once, twice the mount's `read_ahead_kb` (8 MiB)
    /// since the kernel starts the next window before the last one is answered. Reads 14 MiB
    /// behind the furthest one were seen.
    static let reorder: UInt64 = 16 << 20
    /// Reads in a row that continue each other before the window opens (Lustre's
    /// `ras_consecutive_requests`); the first read of the file at offset 0 counts as continuing.
    static let streamReads = 2
    /// How far from the stream a read of `length` bytes may start and still belong to it: 16
    /// reads of its length (an asynchronous reader's queue), at least 64 KiB, at most `reorder`.
    static func reach(_ length: Int) -> UInt64 {
        min(reorder, max(64 << 10, UInt64(max(length, 0)) &* 16))
    }

    /// The end of the furthest read of the stream.
    private(set) var nextOffset: UInt64 = 0
    private(set) var window: UInt64 = 0
    /// Reads that continued the stream since the last seek (the open counts as one).
    private(set) var consecutive = 1

    /// Records a read of `length` bytes at `offset` and returns how many bytes past it to read
    /// ahead (0: not a stream). `minimumWindow` is the first window of a stream, `maximum` the cap.
    /// A read behind the furthest one gets the furthest one's read-ahead end, so it neither
    /// fetches nor drops anything the stream still needs.
    mutating func record(offset: UInt64, length: Int, minimumWindow: UInt64, maximum: UInt64) -> UInt64 {
        let end = offset &+ UInt64(length)
        let reach = Self.reach(length)
        let behind = window > 0 ? reach : min(Self.tolerance, reach)
        let ahead = min(max(window, Self.tolerance), reach)
        let sequential = offset &+ behind >= nextOffset && offset <= nextOffset &+ ahead
        guard sequential && maximum > 0 else {
            nextOffset = end
            window = 0
            consecutive = 0
            return 0
        }
        // A read behind the furthest one, answered late: inside the window, which stays as it is.
        if window > 0 && end <= nextOffset { return nextOffset - end + min(window, maximum) }
        nextOffset = max(nextOffset, end)
        consecutive += 1
        guard consecutive >= Self.streamReads else { return 0 }
        window = window == 0 ? min(minimumWindow, maximum) : min(window * 2, maximum)
        return window
    }
}
