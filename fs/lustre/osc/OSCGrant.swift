import LibCFS
import ObdClass
import Synchronization

/// The grant this client holds on its OST (Lustre's `cl_avail_grant`): space the OST reserved for
/// this client's cached writes (`OFDGrant` on the OSS). A write is cached only against grant, taken
/// when it is cached; without enough, the writer sends it to the OST at once and hears its `ENOSPC`
/// in `write(2)`, as Lustre's client writes synchronously when out of grant. So a cached write,
/// acknowledged long before it reaches the OST, finds its room there whatever other clients write
/// meanwhile.
///
/// Each write RPC says how many of its bytes came from grant and how much grant the client wants to
/// hold (`OSTGrant.Request`); the reply adds what the OST could give (`OSTGrant.Reply`), and so
/// does the reply to each connect when the OSC asks with it
/// (`OSCDevice.Configuration.grantAtConnect`); without, an OSC starts with none and its first write
/// goes through and brings grant back. The grant of an OST that restarted, or of an export the
/// client lost to eviction (another epoch in the replies), or of an import that went idle
/// (`releaseForIdle`), is gone. Grant not renewed by a write for `expiry` is let go, and the next
/// write says so (`dropped`), so the OST gives it again (the OST itself takes back grant not
/// renewed for twice that).
public final class OSCGrant: Sendable {
    /// Nanoseconds after the last write RPC that renewed it before unused grant is let go: 10
    /// minutes, half the OST's `OFDGrant.expiry`.
    public static let expiry: UInt64 = 600 * 1_000_000_000
    /// The grant wanted until `setWanted` says otherwise: Lustre's default `max_dirty_mb` (32)
    /// and two 4 MiB RPCs.
    public static let defaultWanted: UInt64 = 40 << 20

    private struct State {
        var available: UInt64 = 0
        /// The OST accounting it came from (0: none yet).
        var epoch: UInt64 = 0
        /// When the write RPC whose reply last renewed it was sent (monotonic ns).
        var renewed: UInt64 = 0
        /// Grant let go (expired) that the OST has not been told of yet.
        var dropped: UInt64 = 0
        /// Bytes taken for cached writes not yet sent: they will come off whatever grant the
        /// OST holds for this client when they arrive.
        var outstanding: UInt64 = 0

        /// Lets go of grant not renewed for `expiry`.
        mutating func expire(now: UInt64, after expiry: UInt64) {
            guard available > 0, now &- renewed >= expiry else { return }
            dropped += available
            available = 0
        }
    }

    /// The closure in a struct: a function value kept as a `Mutex`'s own generic value is
    /// reabstracted on each `withLock` and written back wrapped in one more thunk, so that
    /// every call grew slower (56 % of a client's CPU after a minute of 4 KiB writes).
    private struct Wanted: Sendable {
        var bytes: @Sendable () -> UInt64
    }

    private let state = Mutex(State())
    private let wanted = Mutex(Wanted(bytes: { OSCGrant.defaultWanted }))
    private let expiry: UInt64

    /// `expiry`: nanoseconds without renewal after which grant is let go (tests shorten it).
    public init(expiry: UInt64 = OSCGrant.expiry) {
        self.expiry = expiry
    }

    /// Grant held and not yet used by a cached write (`osc.*.cur_grant_bytes`).
    public var available: UInt64 {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            state.expire(now: now, after: expiry)
            return state.available
        }
    }

    /// Sets how much grant to ask for: the LOV's `max_dirty_mb` of this OSC and two RPCs.
    public func setWanted(_ wanted: @escaping @Sendable () -> UInt64) {
        self.wanted.withLock { $0.bytes = wanted }
    }

    /// Takes `bytes` of grant for a write about to be cached; false when there is not that
    /// much (the write then goes to the OST at once).
    public func take(_ bytes: Int) -> Bool {
        let wanted = UInt64(max(0, bytes))
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state in
            state.expire(now: now, after: expiry)
            guard state.available >= wanted else { return false }
            state.available -= wanted
            state.outstanding += wanted
            return true
        }
    }

    /// Gives back grant `take` gave a write that was not cached after all.
    public func giveBack(_ bytes: Int) {
        let bytes = UInt64(max(0, bytes))
        state.withLock { state in
            state.available += bytes
            state.outstanding -= min(state.outstanding, bytes)
        }
    }

    /// Lets go of all grant for an idle disconnect (`osc.*.idle_timeout`), unless writes are
    /// cached against it (then the import stays connected); true when let go. The OST frees it
    /// with the export; should the disconnect not happen after all, the next write tells the
    /// OST it was dropped.
    public func releaseForIdle() -> Bool {
        state.withLock { state in
            guard state.outstanding == 0 else { return false }
            state.dropped += state.available
            state.available = 0
            return true
        }
    }

    /// The grant fields of a write RPC carrying `fromGrant` bytes cached against grant; the
    /// grant let go since the last one goes with it (told once: should this RPC be lost, the
    /// OST keeps that grant for this client until it disconnects, is evicted or idles out).
    public func request(fromGrant: Int) -> OSTGrant.Request {
        let now = MonotonicClock.nanoseconds()
        let dropped = state.withLock { state -> UInt64 in
            state.expire(now: now, after: expiry)
            state.outstanding -= min(state.outstanding, UInt64(max(0, fromGrant)))
            defer { state.dropped = 0 }
            return state.dropped
        }
        return OSTGrant.Request(fromGrant: UInt64(max(0, fromGrant)), wanted: wanted.withLock { $0.bytes }(),
                                dropped: dropped)
    }

    /// Takes in the grant fields of a write's (or a connect's) reply; `sentAt` is when its
    /// request left. Another epoch (the OSS restarted, or this client was evicted) voids what
    /// was held; the cached writes that took of it and are still to be sent will come off the
    /// new grant when they arrive (marked from grant), so they are counted out of it here too.
    public func update(_ reply: OSTGrant.Reply, sentAt: UInt64) {
        state.withLock { state in
            var granted = reply.granted
            if reply.epoch != state.epoch {
                if state.epoch != 0 {
                    CDEBUG(.cache, "osc: another grant epoch (OST restarted, or eviction): \(state.available) bytes "
                           + "of grant are gone, \(state.outstanding) cached against it")
                }
                (state.available, state.epoch, state.renewed, state.dropped) = (0, reply.epoch, 0, 0)
                let spent = min(granted, state.outstanding)
                granted -= spent
            }
            state.available += granted
            state.renewed = max(state.renewed, sentAt)
        }
    }
}
