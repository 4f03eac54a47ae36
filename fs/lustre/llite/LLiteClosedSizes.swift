import LibCFS
import ObdClass
import Synchronization

/// The sizes this client's last closes of changed files told the MDS, for the attributes the MDS
/// gave before it heard them.
///
/// A closed file's size is the MDS's, sent with the close that ends the last handle of a file this
/// client changed. The kernel answers `close(2)` at `FLUSH` (the data is on the OSTs by then) and
/// sends `RELEASE`, which carries that close, on its own: a `stat` right after `close(2)` may
/// reach the MDS first, or be answered with what the MDS said before (a getattr already on its
/// way, a statahead result), and show the old size. dbench's `NTCreateX`/`WriteX`/`Close`/`ReadX`
/// read 0 bytes back that way (the kernel trusted the size). Until such answers can no longer
/// arrive, this client's own size wins over them.
final class LLiteClosedSizes: Sendable {
    private struct Entry {
        var size: UInt64
        var blocks: UInt64
        /// When the MDS answered the close (`MonotonicClock` ns); nil while it is on its way.
        var answered: UInt64?
    }

    /// How long after the MDS answered a close an older answer may still come: statahead keeps
    /// results `statAheadLifetime`, a getattr on its way waits for its reply.
    let retention: UInt64
    /// Entries kept at most: past it those past their retention go, then the oldest answered
    /// ones down to half of it (a busy writer closes thousands of files within the retention).
    static let limit = 4096
    private let entries = Mutex<[LustreFID: Entry]>([:])

    /// `lifetime`: seconds statahead results are kept (`Options.statAheadLifetime`); `margin`:
    /// seconds more for a getattr's reply to come.
    init(lifetime: Double, margin: Double = 2) {
        retention = UInt64((max(lifetime, 0) + max(margin, 0)) * 1e9)
    }

    /// The close of `fid` with `size` and `blocks` is about to be sent (the file's last handle here).
    func closing(_ fid: LustreFID, size: UInt64, blocks: UInt64) {
        let now = MonotonicClock.nanoseconds()
        entries.withLock { entries in
            if entries.count >= Self.limit { prune(&entries, now: now) }
            entries[fid] = Entry(size: size, blocks: blocks, answered: nil)
        }
    }

    /// The MDS answered the close of `fid` (or it failed: then the MDS may never hear the size,
    /// and it wins for the retention only).
    func answered(_ fid: LustreFID) {
        let now = MonotonicClock.nanoseconds()
        entries.withLock { entries in entries[fid]?.answered = now }
    }

    /// `attributes` of a file not open here as this client must show them: with the size of its
    /// last close here if the MDS may have given them before it heard that close. `sent`: when
    /// the request that fetched them was sent (nil: unknown, as for statahead results).
    func corrected(_ attributes: MDTAttributes, sent: UInt64?) -> MDTAttributes {
        let now = MonotonicClock.nanoseconds()
        let entry = entries.withLock { entries -> Entry? in
            guard let entry = entries[attributes.fid] else { return nil }
            if let answered = entry.answered, now &- answered > retention {
                entries[attributes.fid] = nil
                return nil
            }
            return entry
        }
        guard let entry else { return attributes }
        if let answered = entry.answered, let sent, sent > answered { return attributes }
        var result = attributes
        result.size = entry.size
        result.blocks = entry.blocks
        return result
    }

    /// Entries held (for tests and bounds).
    var count: Int { entries.withLock { $0.count } }

    private func prune(_ entries: inout [LustreFID: Entry], now: UInt64) {
        entries = entries.filter { _, entry in entry.answered.map { now &- $0 <= retention } ?? true }
        guard entries.count >= Self.limit / 2 else { return }
        let answered = entries.compactMap { fid, entry in entry.answered.map { (fid, $0) } }.sorted { $0.1 < $1.1 }
        for (fid, _) in answered.prefix(entries.count - Self.limit / 2) { entries[fid] = nil }
    }
}
