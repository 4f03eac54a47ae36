import LibCFS
import ObdClass
import Synchronization

/// What this client's last closes of changed files told the MDS (size, blocks, mtime), for the
/// attributes the MDS gave before it heard them.
///
/// A closed file's size and mtime are the MDS's, sent with the close that ends the last handle
/// of a file this client changed. The kernel answers `close(2)` at `FLUSH` (the data is on the
/// OSTs by then) and sends `RELEASE`, which carries that close, on its own: a `stat` right after
/// `close(2)` may reach the MDS first, or be answered with what the MDS said before (a getattr
/// already on its way, a statahead result), and show the old size. dbench's `NTCreateX`/
/// `WriteX`/`Close`/`ReadX` read 0 bytes back that way (the kernel trusted the size). Until such
/// answers can no longer arrive, this client's own attributes win over them.
///
/// A setattr of the times here waits for a close of the file still on its way (`waitForClose`):
/// `tar` sets a file's mtime right after `close(2)`, and the close's mtime must not land after it.
final class LLiteClosedAttributes: Sendable {
    private struct Entry {
        /// What the close tells the MDS; nil while it is being worked out.
        var attributes: LustreFile.Closed?
        /// When the MDS answered the close (`MonotonicClock` ns); nil while it is on its way.
        var answered: UInt64?
        var waiters: [CheckedContinuation<Void, Never>] = []
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

    /// A close of `fid` that may tell the MDS something begins (before the file's changes are
    /// taken for it).
    func begin(_ fid: LustreFID) { pending(fid, nil) }

    /// The close of `fid` is about to tell the MDS `attributes`.
    func closing(_ fid: LustreFID, _ attributes: LustreFile.Closed) { pending(fid, attributes) }

    /// A close of `fid` on its way, with what it tells (nil: not known yet); waiters stay.
    private func pending(_ fid: LustreFID, _ attributes: LustreFile.Closed?) {
        let now = MonotonicClock.nanoseconds()
        entries.withLock { entries in
            if entries[fid] == nil && entries.count >= Self.limit { prune(&entries, now: now) }
            entries[fid, default: Entry()].attributes = attributes
            entries[fid]?.answered = nil
        }
    }

    /// The close of `fid` is over: answered by the MDS, failed (then the MDS may never hear the
    /// attributes; they win for the retention only), or had nothing to tell.
    func answered(_ fid: LustreFID) {
        let now = MonotonicClock.nanoseconds()
        let waiters = entries.withLock { entries -> [CheckedContinuation<Void, Never>] in
            guard var entry = entries[fid] else { return [] }
            let waiters = entry.waiters
            entry.waiters = []
            entry.answered = now
            entries[fid] = entry.attributes == nil ? nil : entry
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// The MDS answered a setattr of the file with `attributes`: they replace what the close
    /// told it, for answers older than them (rsync sets the mtime right after close(2): a
    /// statahead result must not show the close's mtime over it).
    func changed(_ attributes: MDTAttributes) {
        let now = MonotonicClock.nanoseconds()
        entries.withLock { entries in
            guard entries[attributes.fid]?.attributes != nil, entries[attributes.fid]?.answered != nil else { return }
            entries[attributes.fid]?.attributes = .init(size: attributes.size, blocks: attributes.blocks, mtime: attributes.mtime)
            entries[attributes.fid]?.answered = now
        }
    }

    /// Returns once no close of `fid` is on its way.
    func waitForClose(_ fid: LustreFID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let pending = entries.withLock { entries -> Bool in
                guard entries[fid] != nil, entries[fid]?.answered == nil else { return false }
                entries[fid]?.waiters.append(continuation)
                return true
            }
            if !pending { continuation.resume() }
        }
    }

    /// `attributes` of a file not open here as this client must show them: with the size,
    /// blocks and mtime of its last close here if the MDS may have given them before it heard
    /// that close. `sent`: when the request that fetched them was sent (nil: unknown, as for
    /// statahead results).
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
        guard let entry, let closed = entry.attributes else { return attributes }
        if let answered = entry.answered, let sent, sent > answered { return attributes }
        var result = attributes
        result.size = closed.size
        result.blocks = closed.blocks
        if let mtime = closed.mtime {
            result.mtime = mtime
            result.ctime = max(result.ctime, mtime)
        }
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
