/// Lustre's allocation policy (lod_qos.c) for choosing the OSTs of a new file: round-robin
/// while the OSTs' free space is within `qos_threshold_rr` of each other, otherwise a random
/// choice weighted by free space, so fuller OSTs get proportionally fewer new objects; a given
/// stripe offset starts at that OST and takes the following ones in index order.
struct LODQOS: Sendable {
    /// One candidate OST.
    struct Target: Sendable, Equatable {
        var index: UInt32
        /// Bytes available to new data.
        var bytesAvailable: UInt64
    }

    /// `qos_threshold_rr` as a fraction (Lustre's default 17%).
    var thresholdRR: Double
    /// The OST that took the first stripe of the last round-robin allocation: the next one
    /// starts after it (by index, so OSTs coming and going do not upset the rotation).
    private var rrLast: UInt32?
    private var generator = SystemRandomNumberGenerator()

    init(thresholdRR: Double = 0.17) {
        self.thresholdRR = thresholdRR
    }

    /// Whether the candidates are balanced enough for round-robin.
    func isBalanced(_ targets: [Target]) -> Bool {
        guard targets.count > 1 else { return true }
        var low = UInt64.max, high: UInt64 = 0
        for target in targets {
            low = min(low, target.bytesAvailable)
            high = max(high, target.bytesAvailable)
        }
        guard high > 0 else { return true }
        return Double(high - low) / Double(high) <= thresholdRR
    }

    /// Picks `count` distinct OSTs, in stripe order, from `targets` (sorted by index, all
    /// usable, `count` at most their number). `offset` forces the first stripe's OST (or the
    /// next one in index order if it is not a candidate).
    mutating func choose(count: Int, offset: UInt32?, among targets: [Target]) -> [UInt32] {
        let n = targets.count
        guard count > 0, n > 0 else { return [] }
        let count = min(count, n)
        if let offset {
            let start = targets.firstIndex { $0.index >= offset } ?? 0
            return (0..<count).map { targets[(start + $0) % n].index }
        }
        if count == n || isBalanced(targets) {
            let start = rrLast.flatMap { last in targets.firstIndex { $0.index > last } } ?? 0
            rrLast = targets[start].index
            return (0..<count).map { targets[(start + $0) % n].index }
        }
        return weighted(count: count, among: targets)
    }

    /// Draws without replacement with probability proportional to free space.
    private mutating func weighted(count: Int, among targets: [Target]) -> [UInt32] {
        // Free space in MiB, at least 1 so an almost full OST can still be drawn last.
        var weights = targets.map { max($0.bytesAvailable >> 20, 1) }
        var total = weights.reduce(0, +)
        var chosen: [UInt32] = []
        chosen.reserveCapacity(count)
        while chosen.count < count, total > 0 {
            var draw = UInt64.random(in: 0..<total, using: &generator)
            for position in weights.indices where weights[position] > 0 {
                if draw < weights[position] {
                    chosen.append(targets[position].index)
                    total -= weights[position]
                    weights[position] = 0
                    break
                }
                draw -= weights[position]
            }
        }
        return chosen
    }
}
