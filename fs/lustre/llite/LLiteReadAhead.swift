/// Sequential-stream detection of one open file (Lustre's `ll_readahead_state`): reads that
/// start where the previous ones ended (give or take `tolerance`, since FUSE and async callers
/// issue reads slightly out of order) form a stream, and the read-ahead window of a stream
/// doubles with every read, from one RPC per stripe up to `max_read_ahead_mb`. Any other read
/// ends the stream and the window. A stream starts at the beginning of the file, or after a
/// seek once two reads in a row have continued it: a random read that happens to land near the
/// previous one (1 in 256 for 4 KiB reads of a 512 MiB file) would otherwise fetch a whole
/// window (one RPC per stripe, 8 MiB) for 4 KiB.
struct LLiteReadAhead: Sendable {
    /// How far off the expected offset a read may start and still continue the stream.
    static let tolerance: UInt64 = 1 << 20
    /// Reads in a row that continue each other before the window opens (Lustre's
    /// `ras_consecutive_requests`); the first read of the file at offset 0 counts as continuing.
    static let streamReads = 2

    private(set) var nextOffset: UInt64 = 0
    private(set) var window: UInt64 = 0
    /// Reads that continued the stream since the last seek (the open counts as one).
    private(set) var consecutive = 1

    /// Records a read of `length` bytes at `offset` and returns how many bytes past it to read
    /// ahead (0: not a stream). `minimumWindow` is the first window of a stream, `maximum` the cap.
    mutating func record(offset: UInt64, length: Int, minimumWindow: UInt64, maximum: UInt64) -> UInt64 {
        let end = offset &+ UInt64(length)
        let sequential = offset &+ Self.tolerance >= nextOffset && offset <= nextOffset &+ Self.tolerance
        if sequential && maximum > 0 {
            nextOffset = max(nextOffset, end)
            consecutive += 1
            guard consecutive >= Self.streamReads else { return 0 }
            window = window == 0 ? min(minimumWindow, maximum) : min(window * 2, maximum)
        } else {
            nextOffset = end
            window = 0
            consecutive = 0
        }
        return window
    }
}
