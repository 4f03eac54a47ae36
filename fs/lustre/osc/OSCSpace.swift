import LibCFS
import Synchronization

/// What this client knows of the free space of its OST, so that a write the OST has no room for
/// fails in `write(2)` rather than at the close after it was cached (Lustre's grant, whose
/// client writes synchronously once its grant runs out; without the OST's reservation here, so
/// two clients racing for the last bytes can still see `ENOSPC` at close).
///
/// The figure comes from `OST_STATFS` (and every `statfs` of the OSC, `lfs df`'s among them)
/// and is asked again when it is older than `maxAge` or when the bytes this client cached since
/// come near half of it: far from full a streaming writer costs one statfs every few seconds;
/// near full every write asks, and the writes go through to the OST one by one.
public final class OSCSpace: Sendable {
    /// How long a figure is trusted, in nanoseconds.
    public static let maxAge: UInt64 = 5_000_000_000

    private struct State {
        /// Bytes the OST said were available (`os_bavail × os_bsize`), and when (monotonic ns).
        var available: UInt64?
        var learned: UInt64 = 0
        /// Bytes admitted since: cached writes the figure does not count yet.
        var admitted: UInt64 = 0
        /// The statfs on its way, shared by every writer that needs one.
        var query: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let fetch: @Sendable () async throws(LustreError) -> UInt64

    /// `fetch` asks the OST for its available bytes.
    public init(fetch: @escaping @Sendable () async throws(LustreError) -> UInt64) {
        self.fetch = fetch
    }

    /// The OST's available bytes as last heard (nil before the first statfs).
    public var available: UInt64? { state.withLock { $0.available } }

    /// Takes in an answer of the OST (`available` bytes), from any statfs.
    public func learn(available: UInt64) {
        state.withLock { state in
            (state.available, state.learned, state.admitted) = (available, MonotonicClock.nanoseconds(), 0)
        }
    }

    /// Whether `bytes` more may be cached for the OST while `pending` bytes cached for it are
    /// not yet written: the OST has room for all of them and `reserve` to spare. False means the
    /// write should go to the OST at once, its error to the writer. A statfs that fails admits
    /// (the write's own error comes at close, as before).
    public func admits(_ bytes: Int, pending: Int, reserve: Int) async -> Bool {
        let wanted = UInt64(max(0, bytes) + max(0, pending) + max(0, reserve))
        var asked = false
        while true {
            enum Verdict { case admit, refuse, ask(Task<Void, Never>) }
            let verdict = state.withLock { state -> Verdict in
                let now = MonotonicClock.nanoseconds()
                if let available = state.available {
                    let need = state.admitted + wanted
                    // Fresh and far from full: no question. Just asked: the answer decides.
                    if asked || (now &- state.learned < Self.maxAge && need <= available / 2) {
                        guard need <= available else { return .refuse }
                        state.admitted += UInt64(max(0, bytes))
                        return .admit
                    }
                } else if asked || (state.learned != 0 && now &- state.learned < Self.maxAge) {
                    // No figure (the OST did not answer lately): cached, the error comes at close.
                    return .admit
                }
                let query = state.query ?? Task { await self.ask() }
                state.query = query
                return .ask(query)
            }
            switch verdict {
            case .admit: return true
            case .refuse: return false
            case .ask(let query):
                await query.value
                asked = true
            }
        }
    }

    private func ask() async {
        let available: UInt64?
        do throws(LustreError) {
            available = try await fetch()
        } catch {
            CDEBUG(.cache, "osc: statfs for free space failed: \(error)")
            available = nil
        }
        state.withLock { state in
            if let available {
                (state.available, state.admitted) = (available, 0)
            }
            // Asked again only after `maxAge` when it failed too: writers do not wait on an OST
            // that does not answer at every write.
            state.learned = MonotonicClock.nanoseconds()
            state.query = nil
        }
    }
}
