import LibCFS
import Synchronization

/// The space one OST reserves for its clients' cached writes (Lustre's target grant data, with
/// each export's `ted_grant`): a client caches a write only against grant, and every write
/// that is not from grant must leave the grant of all clients free, so a cached write always
/// finds its room on the OST however full the others make it.
///
/// Grant is given with write replies (`OSTGrant.Reply`), topping a client's grant up to what it
/// asks for (about its `max_dirty_mb`) while the free space beyond the grant of all clients
/// allows, and taken back as the client's writes of cached bytes arrive, when the client
/// disconnects, or once it has not written for `expiry` (its client stops using it after half
/// of that: a client that died without disconnecting does not hold space for ever, there being
/// no eviction yet). It lives in memory: an OSS that restarts starts from none, with a new
/// `epoch` so clients drop what they held.
final class OFDGrant: Sendable {
    /// This accounting's `OSTGrant.Reply.epoch`.
    let epoch: UInt64
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
    /// metadata: the space the write must leave free.
    func consume(_ bytes: UInt64, dropped: UInt64 = 0, export: UInt64, now: UInt64) -> UInt64 {
        state.withLock { state in
            sweep(&state, now: now)
            var holder = state.holders[export] ?? Holder(lastWrite: now)
            let (sum, overflow) = bytes.addingReportingOverflow(dropped)
            let taken = min(holder.granted, overflow ? .max : sum)
            holder.granted -= taken
            holder.lastWrite = now
            state.holders[export] = holder
            state.total -= taken
            return state.total + state.total / 64
        }
    }

    /// Tops the grant of `export` up towards `wanted` out of `available` free bytes (the volume's,
    /// after the write) beyond what all clients hold; returns the bytes granted now.
    func allocate(export: UInt64, wanted: UInt64, available: UInt64, now: UInt64) -> UInt64 {
        state.withLock { state in
            sweep(&state, now: now)
            var holder = state.holders[export] ?? Holder(lastWrite: now)
            holder.lastWrite = now
            let target = min(wanted, Self.maximumPerExport)
            // Each granted byte takes its 1/64 of metadata once written (the OSD's space check).
            let committed = state.total + state.total / 64 + Self.reserve
            var grant: UInt64 = 0
            if target > holder.granted, available > committed {
                grant = min(target - holder.granted, (available - committed) / 65 * 64)
            }
            holder.granted += grant
            state.total += grant
            state.holders[export] = holder
            return grant
        }
    }

    /// The client of `export` is gone: its grant is free space again.
    func discard(export: UInt64) {
        state.withLock { state in
            if let holder = state.holders.removeValue(forKey: export) { state.total -= holder.granted }
        }
    }

    /// Drops the grant of clients that have not written for `expiry`.
    private func sweep(_ state: inout State, now: UInt64) {
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
