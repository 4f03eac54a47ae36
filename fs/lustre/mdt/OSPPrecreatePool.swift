/// The objects an OST has precreated for this MDT and the MDT has not handed out yet, and the
/// last id handed out (what `lov_objid` records). Ids only go up: an id at or below `lastUsed`
/// is never in the pool, so nothing is handed out twice.
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
    /// Ids a claim jumped over: never handed out, so a later claim may still take them.
    private var skipped: [ClosedRange<UInt64>] = []

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

    /// An id the MDT's log says is in use (replay): neither it nor anything below is handed out.
    mutating func noteInUse(_ id: UInt64) {
        guard id > lastUsed else { return }
        lastUsed = id
        if next <= id { next = id + 1 }
        while let first = later.first, first.lowerBound <= id {
            later.removeFirst()
            if first.upperBound > id { later.insert((id + 1)...first.upperBound, at: 0) }
        }
    }

    /// Takes `id` for a replayed create that names it, if it was never handed out: above
    /// `lastUsed` (the ids between are skipped, as after `noteInUse`, but remembered), or one
    /// of the ids an earlier claim skipped (replays of several clients come in any order).
    mutating func claim(_ id: UInt64) -> Bool {
        if id > lastUsed {
            if id > lastUsed + 1 { skipped.append((lastUsed + 1)...(id - 1)) }
            noteInUse(id)
            return true
        }
        guard let index = skipped.firstIndex(where: { $0.contains(id) }) else { return false }
        let range = skipped.remove(at: index)
        if range.lowerBound < id { skipped.append(range.lowerBound...(id - 1)) }
        if id < range.upperBound { skipped.append((id + 1)...range.upperBound) }
        return true
    }

    /// Adds objects the OST just precreated. The first range after start also adopts the ids
    /// between `lastUsed` and it when `adoptEarlier` (the OST's `LAST_ID` was above what this
    /// MDT had handed out: objects precreated before a restart, still unused); later ranges
    /// adopt any gap before them.
    mutating func add(_ range: ClosedRange<UInt64>, adoptEarlier: Bool) {
        var lower = range.lowerBound
        if !synchronized {
            synchronized = true
            if adoptEarlier, lower > lastUsed + 1 { lower = lastUsed + 1 }
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

    /// Forgets the OST's ranges (it lost objects, or was reformatted); `lastUsed` stays.
    mutating func reset() {
        next = 1
        end = 0
        later.removeAll()
        synchronized = false
    }
}
