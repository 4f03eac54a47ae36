import LibCFS
import OSD
import Synchronization

/// The space one OST reserves for its clients' cached writes (Lustre's target grant data, with
/// each export's `ted_grant`): a client caches a write only against grant, and every write
/// that is not from grant must leave the grant of all clients free, so a cached write always
/// finds its room on the OST however full the others make it.
///
/// Grant is given with write replies (`OSTGrant.Reply`), topping a client's grant up to what it
/// asks for (about its `max_dirty_mb`) while the free space beyond the grant of all clients
/// allows, and taken back as the client's writes of cached bytes arrive, when the client
/// disconnects or is evicted (silent for one and a half `obd_timeout`s: it died), or once it has
/// not written for `expiry` (its client stops using it after half of that). It lives in memory:
/// an OSS that restarts starts from none, with a new `epoch` so clients drop what they held.
///
/// A write counts as pending (Lustre's `tot_pending`) from its admission (`admit`, its space
/// check) until its bytes are in the volume (`land`): grant it consumed, or room it passed the
/// check with, stays taken for every other write meanwhile, whose `statfs` cannot see it yet.
/// And grant given after a write counts what other writes put in the volume since its `statfs`.
/// Without this, two writes in flight passed the check for the same free bytes, and a client
/// was granted bytes another write was filling: a cached write then found no room.
final class OFDGrant: Sendable {
    /// This accounting's start: a new one at each start of the target.
    let epoch: UInt64

    /// The `OSTGrant.Reply.epoch` of the grant of `export`: another start of the target, or
    /// another export of the same client (it was evicted and connected again, its grant gone
    /// with its old export), is another epoch, and the client drops the grant it held.
    func epoch(of export: UInt64) -> UInt64 {
        let mixed = epoch ^ (export &* 0x9e37_79b9_7f4a_7c15)
        return mixed == 0 ? 1 : mixed
    }
    /// Free space never granted: room for what the bytes of writes do not count (ext4 rounding
    /// small writes to blocks, the OSD's own files).
    static let reserve: UInt64 = 1 << 20
    /// The most one client may hold, whatever it asks for: enough for the largest
    /// `max_dirty_mb` (4 GiB) and its RPCs, so that no writer that may cache more runs out of
    /// grant first (it would then write through, one RPC at a time).
    static let maximumPerExport: UInt64 = (4 << 30) + (64 << 20)
    /// A client that has not written for this long (nanoseconds) loses its grant: 20 minutes,
    /// as Lustre's grant shrink interval; `OSCGrant` lets go after half of it.
    static let expiry: UInt64 = 1200 * 1_000_000_000
    /// How often idle clients' grants are looked for, at most (nanoseconds).
    static let sweepInterval: UInt64 = 60 * 1_000_000_000

    private struct Holder {
        var granted: UInt64 = 0
        var lastWrite: UInt64
    }

    private struct State {
        var holders: [UInt64: Holder] = [:]
        var total: UInt64 = 0
        var lastSweep: UInt64 = 0
        /// What the writes admitted and not landed yet will take (each its bytes and their 1/64).
        var pending: UInt64 = 0
        /// What all writes that landed took, ever (a write's `statfs` is older than the writes
        /// landed since its mark).
        var landed: UInt64 = 0

        /// The space a write must leave free: all grant with its share of metadata, and the
        /// pending writes.
        var committed: UInt64 { total + total / 64 + pending }
    }

    /// A write on its way to the volume, from `admit` until `land`.
    struct PendingWrite: Sendable {
        /// Its bytes and their share of metadata.
        let charge: UInt64
        /// Free space it must leave alone (`OSDDevice.write(reserved:)`); nil when its room is
        /// reserved already: a write all from grant, or a replay of one acknowledged.
        let reserved: UInt64?
        /// The volume as it was admitted.
        let volume: OSDStatfs?
        /// `State.landed` at its `statfs`.
        fileprivate let mark: UInt64
    }

    private let state = Mutex(State())

    init(epoch: UInt64 = .random(in: 1 ... .max)) {
        self.epoch = epoch
    }

    /// Grant held by all clients (`obdfilter.*.tot_granted`).
    var totalGranted: UInt64 { state.withLock { $0.total } }

    /// Grant held by the client of `export` (0 when none).
    func granted(to export: UInt64) -> UInt64 { state.withLock { $0.holders[export]?.granted ?? 0 } }

    /// A write of `bytes` the client of `export` cached against its grant has arrived: they
    /// come off its grant (all it holds, if it claims more), and so does the grant it says it
    /// let go (`dropped`). Returns the grant all clients still hold, with its share of ext4's
    /// metadata, and the pending writes: the space the write must leave free.
    func consume(_ bytes: UInt64, dropped: UInt64 = 0, export: UInt64, now: UInt64) -> UInt64 {
        state.withLock { state in
            Self.consume(&state, bytes, dropped: dropped, export: export, now: now)
            return state.committed
        }
    }

    /// Admits a write of `bytes` to the volume: consumes its grant (`fromGrant`, `dropped`;
    /// none for a replay), takes the volume's `statfs`, and counts the write pending until
    /// `land`, all at once, so no other write passes its space check for the same free bytes.
    ///
    /// A write all from grant is not checked against the free space (as Lustre's
    /// `tgt_grant_check`): its room was set aside when the grant was given, and `statfs` may
    /// show less than that since (seen under heavy writeback: ext4 preallocates blocks for a
    /// file being written and counts them used before they are). Nor is a replay, which takes no
    /// `statfs` either: it gets no grant. ext4 alone may refuse them, and the OSS, running as
    /// root, may use the volume's reserved blocks that `statfs`'s available space leaves out.
    func admit(_ bytes: UInt64, fromGrant: UInt64, dropped: UInt64, replay: Bool, export: UInt64, now: UInt64,
               statfs: () -> OSDStatfs?) -> PendingWrite {
        state.withLock { state in
            var reserved: UInt64? = nil
            if !replay {
                let covered = Self.consume(&state, fromGrant, dropped: dropped, export: export, now: now)
                if covered < bytes { reserved = state.committed }
            }
            let charge = bytes + bytes / 64
            let write = PendingWrite(charge: charge, reserved: reserved, volume: replay ? nil : statfs(),
                                     mark: state.landed)
            state.pending += charge
            return write
        }
    }

    /// `write` is in the volume, or failed: it is no longer pending. With `wanted`, tops the
    /// grant of `export` up towards it (`allocate`) from the volume as the write saw it, less
    /// what landed since; returns the bytes granted.
    func land(_ write: PendingWrite, export: UInt64, wanted: UInt64?, now: UInt64) -> UInt64 {
        state.withLock { state in
            state.pending -= write.charge
            state.landed &+= write.charge
            guard let wanted, let volume = write.volume else { return 0 }
            // This write's own charge is among those landed since its mark.
            let since = state.landed &- write.mark
            let available = volume.availableBytes > since ? volume.availableBytes - since : 0
            return Self.allocate(&state, export: export, wanted: wanted, available: available, now: now)
        }
    }

    /// Tops the grant of `export` up towards `wanted` out of `available` free bytes (the volume's,
    /// after the write) beyond what all clients hold and the pending writes take; returns the
    /// bytes granted now.
    func allocate(export: UInt64, wanted: UInt64, available: UInt64, now: UInt64) -> UInt64 {
        state.withLock { Self.allocate(&$0, export: export, wanted: wanted, available: available, now: now) }
    }

    /// A client (re)connected asking for grant: the grant it let go (`dropped`) comes off, and
    /// its grant is topped up towards `wanted` from the volume's `statfs`, taken under the lock
    /// so that no write lands unseen between the two. Returns the bytes granted now.
    func connect(export: UInt64, wanted: UInt64, dropped: UInt64, now: UInt64, statfs: () -> OSDStatfs?) -> UInt64 {
        state.withLock { state in
            Self.consume(&state, 0, dropped: dropped, export: export, now: now)
            return Self.allocate(&state, export: export, wanted: wanted, available: statfs()?.availableBytes ?? 0,
                                 now: now)
        }
    }

    private static func allocate(_ state: inout State, export: UInt64, wanted: UInt64, available: UInt64,
                                 now: UInt64) -> UInt64 {
        sweep(&state, now: now)
        var holder = state.holders[export] ?? Holder(lastWrite: now)
        holder.lastWrite = now
        let target = min(wanted, maximumPerExport)
        // Each granted byte takes its 1/64 of metadata once written (the OSD's space check).
        let committed = state.committed + reserve
        var grant: UInt64 = 0
        if target > holder.granted, available > committed {
            grant = min(target - holder.granted, (available - committed) / 65 * 64)
        }
        holder.granted += grant
        state.total += grant
        state.holders[export] = holder
        return grant
    }

    /// Takes `bytes` of a write cached against grant, then `dropped`, off the grant of
    /// `export`; returns how many of the write's bytes were covered.
    @discardableResult
    private static func consume(_ state: inout State, _ bytes: UInt64, dropped: UInt64, export: UInt64,
                                now: UInt64) -> UInt64 {
        sweep(&state, now: now)
        var holder = state.holders[export] ?? Holder(lastWrite: now)
        let covered = min(holder.granted, bytes)
        let letGo = min(holder.granted - covered, dropped)
        holder.granted -= covered + letGo
        holder.lastWrite = now
        state.holders[export] = holder
        state.total -= covered + letGo
        return covered
    }

    /// The client of `export` is gone: its grant is free space again.
    func discard(export: UInt64) {
        state.withLock { state in
            if let holder = state.holders.removeValue(forKey: export) { state.total -= holder.granted }
        }
    }

    /// Drops the grant of clients that have not written for `expiry`.
    private static func sweep(_ state: inout State, now: UInt64) {
        guard now &- state.lastSweep >= Self.sweepInterval else { return }
        state.lastSweep = now
        for (export, holder) in state.holders where now &- holder.lastWrite >= Self.expiry {
            state.total -= holder.granted
            state.holders[export] = nil
            if holder.granted > 0 {
                CDEBUG(.cache, "grant: export \(export) idle for \((now &- holder.lastWrite) / 1_000_000_000) s: "
                       + "\(holder.granted) bytes of grant taken back")
            }
        }
    }
}
