import Synchronization

/// The in-memory debug log behind `lctl dk`: the newest messages, bounded in
/// bytes (`debug_mb`), oldest dropped first.
///
/// Lustre keeps per-CPU trace pages; one locked ring is enough here because
/// only messages that passed the mask check reach it.
final class DebugRing: Sendable {
    private struct State {
        var lines: [String] = []
        var start = 0          // lines[..<start] are dropped and await compaction
        var bytes = 0
        var capacityBytes: Int
        var dropped = 0
    }

    private let state: Mutex<State>

    init(capacityBytes: Int) {
        state = Mutex(State(capacityBytes: capacityBytes))
    }

    var capacityBytes: Int { state.withLock { $0.capacityBytes } }

    func setCapacity(bytes: Int) {
        state.withLock { s in
            s.capacityBytes = bytes
            DebugRing.trim(&s)
        }
    }

    func append(_ line: String) {
        state.withLock { s in
            s.lines.append(line)
            s.bytes += line.utf8.count
            DebugRing.trim(&s)
        }
    }

    /// The kept lines, oldest first; with `clear`, the ring is emptied in the
    /// same critical section so no line is lost or shown twice.
    func dump(clear: Bool) -> [String] {
        state.withLock { s in
            let kept = Array(s.lines[s.start...])
            if clear { DebugRing.reset(&s) }
            return kept
        }
    }

    func clear() {
        state.withLock { DebugRing.reset(&$0) }
    }

    /// Lines dropped to stay within the capacity since the last clear.
    var droppedCount: Int { state.withLock { $0.dropped } }

    private static func reset(_ s: inout State) {
        s.lines.removeAll(keepingCapacity: false)
        s.start = 0
        s.bytes = 0
        s.dropped = 0
    }

    private static func trim(_ s: inout State) {
        while s.bytes > s.capacityBytes, s.start < s.lines.count {
            s.bytes -= s.lines[s.start].utf8.count
            s.lines[s.start] = ""
            s.start += 1
            s.dropped += 1
        }
        // Compact once the dead prefix dominates, so appends stay amortised O(1).
        if s.start > 64, s.start * 2 > s.lines.count {
            s.lines.removeFirst(s.start)
            s.start = 0
        }
    }
}
