/// The objects an OST has precreated for this MDT and the MDT has not handed out yet, and the
/// last id handed out (what `lov_objid` records). Ids only go up: an id at or below `lastUsed`
/// is never in the pool, so nothing is handed out twice.
///
/// After a restart, the ids this MDT may have handed out before it that no file uses now (its
/// log lost their creates, or they were precreated and never used) are *claimable*, not handed
/// out again: a client replaying its create takes its objects back (`claim`), with the data it
/// wrote there, and a new file never gets an object that may hold another file's data. Once
/// clients have had their time to replay, what is still claimable is destroyed
/// (`expireClaimable`), as Lustre's OSP cleans up orphans after recovery.
struct OSPPrecreatePool: Sendable {
    /// The highest id handed out or noted in use.
    private(set) var lastUsed: UInt64
    /// The range being handed out: `next...end`, empty when `next > end`.
    private var next: UInt64 = 1
    private var end: UInt64 = 0
    /// Ranges after the current one, ascending.
    private var later: [ClosedRange<UInt64>] = []
    /// Whether the pool has been matched with the OST's `LAST_ID` since start.
    private(set) var synchronized = false
    /// Ids not handed out to a new create that a replayed create may take back: those a claim
    /// jumped over, those between `lastUsed` and the OST's `LAST_ID` at start, and those the
    /// MDT's replay found unused (`addClaimable`).
    private(set) var claimable: [ClosedRange<UInt64>] = []
    /// Ids taken by `expireClaimable` whose destroys are not logged yet (`expired`): claimable
    /// no more, but still to be listed in `lov_objid_unlogged`, so that a crash before their
    /// destroys are logged leaves them to the next start instead of on the OST for good.
    private var expiring: [ClosedRange<UInt64>] = []

    init(lastUsed: UInt64) {
        self.lastUsed = lastUsed
    }

    /// Objects ready to hand out.
    var available: UInt64 {
        (next <= end ? end - next + 1 : 0) + later.reduce(0) { $0 + UInt64($1.count) }
    }

    /// The highest precreated id known, or `lastUsed` if none is.
    var lastPrecreated: UInt64 { later.last?.upperBound ?? max(end, lastUsed) }

    /// Hands out the next id.
    mutating func take() -> UInt64? {
        if next > end {
            guard !later.isEmpty else { return nil }
            let range = later.removeFirst()
            next = range.lowerBound
            end = range.upperBound
        }
        let id = next
        next += 1
        lastUsed = id
        return id
    }

    /// An id the MDT's log says is in use (replay): neither it nor anything below is handed
    /// out, and it is not claimable (the first precreate may have found it above `lastUsed`
    /// before the replay got to it).
    mutating func noteInUse(_ id: UInt64) {
        guard id > lastUsed else {
            _ = takeClaimable(id)
            return
        }
        lastUsed = id
        if next <= id { next = id + 1 }
        while let first = later.first, first.lowerBound <= id {
            later.removeFirst()
            if first.upperBound > id { later.insert((id + 1)...first.upperBound, at: 0) }
        }
    }

    /// Takes `id` for a replayed create that names it, if it was never handed out: above
    /// `lastUsed` (the ids between are jumped over, as after `noteInUse`, and claimable), or a
    /// claimable one (replays of several clients come in any order).
    mutating func claim(_ id: UInt64) -> Bool {
        if id > lastUsed {
            if id > lastUsed + 1 { claimable.append((lastUsed + 1)...(id - 1)) }
            noteInUse(id)
            return true
        }
        return takeClaimable(id)
    }

    private mutating func takeClaimable(_ id: UInt64) -> Bool {
        guard let index = claimable.firstIndex(where: { $0.contains(id) }) else { return false }
        let range = claimable.remove(at: index)
        if range.lowerBound < id { claimable.append(range.lowerBound...(id - 1)) }
        if id < range.upperBound { claimable.append((id + 1)...range.upperBound) }
        return true
    }

    /// Makes `ids` (none of them in the pool: at or below `lastUsed`, or above the OST's
    /// `LAST_ID` at start) claimable by replays until `expireClaimable`.
    mutating func addClaimable(_ ids: ClosedRange<UInt64>) {
        claimable.append(ids)
    }

    /// Ends the time for replays: returns the ids still claimable, which are never handed out
    /// (they are at or below `lastUsed`) and are the caller's to destroy; it calls `expired`
    /// once their destroys are logged (or they are claimable again).
    mutating func expireClaimable() -> [ClosedRange<UInt64>] {
        defer {
            expiring += claimable
            claimable = []
        }
        return claimable
    }

    /// The destroys of ranges `expireClaimable` returned are logged.
    mutating func expired(_ ranges: [ClosedRange<UInt64>]) {
        for range in ranges {
            if let index = expiring.firstIndex(of: range) { expiring.remove(at: index) }
        }
    }

    /// Ids a next start must reconcile if this one ends now: claimable or expiring.
    var unreconciled: [ClosedRange<UInt64>] { claimable + expiring }

    /// Adds objects the OST just precreated. Before the first range after start, when
    /// `earlierAreOurs` (the OST's `LAST_ID` was above what this MDT had handed out), the ids
    /// between `lastUsed` and the range become claimable: objects handed out before a restart
    /// whose creates the MDT lost, or precreated and never used. Later ranges adopt any gap
    /// before them.
    mutating func add(_ range: ClosedRange<UInt64>, earlierAreOurs: Bool) {
        var lower = range.lowerBound
        if !synchronized {
            synchronized = true
            if earlierAreOurs, lower > lastUsed + 1 {
                claimable.append((lastUsed + 1)...(lower - 1))
                lastUsed = lower - 1
            }
        } else {
            // A gap is a batch precreated for us whose reply was lost (a resent or replayed
            // OST_CREATE): those objects are ours too.
            lower = min(lower, lastPrecreated + 1)
        }
        lower = max(lower, lastUsed + 1, lastPrecreated + 1)
        guard lower <= range.upperBound else { return }
        if next > end, later.isEmpty {
            next = lower
            end = range.upperBound
        } else if let last = later.last, last.upperBound + 1 == lower {
            later[later.count - 1] = last.lowerBound...range.upperBound
        } else if later.isEmpty, end + 1 == lower {
            end = range.upperBound
        } else {
            later.append(lower...range.upperBound)
        }
    }
}
