import Atomics

/// A histogram of 32 buckets as Lustre's `obd_histogram`, for `brw_stats`-like
/// files: I/O sizes, pages per RPC, RPCs in flight, discontiguous blocks.
///
/// Tallied on I/O hot paths by many tasks at once, so each bucket is its own
/// relaxed atomic: no lock, and a reader sees each bucket's latest count (the
/// buckets are not one snapshot, which Lustre's readers do not get either).
public final class ObdHistogram: Sendable {
    /// `OBD_HIST_MAX`.
    public static let bucketCount = 32

    private let counts: [ManagedAtomic<UInt64>] = (0..<ObdHistogram.bucketCount).map { _ in ManagedAtomic(0) }

    /// An empty histogram.
    public init() {}

    /// Counts one event in `bucket`; larger buckets land in the last one
    /// (`lprocfs_oh_tally`).
    public func tally(_ bucket: Int) {
        let b = Swift.min(Swift.max(bucket, 0), ObdHistogram.bucketCount - 1)
        counts[b].wrappingIncrement(ordering: .relaxed)
    }

    /// Counts `value` in the bucket of the smallest power of two ≥ `value`
    /// (1 → 0, 2 → 1, 3…4 → 2, 5…8 → 3; `lprocfs_oh_tally_log2`).
    public func tallyLog2(_ value: UInt64) {
        tally(value <= 1 ? 0 : 64 - (value - 1).leadingZeroBitCount)
    }

    /// The bucket counts.
    public var buckets: [UInt64] { counts.map { $0.load(ordering: .relaxed) } }

    /// The number of events (`lprocfs_oh_sum`).
    public var sum: UInt64 { buckets.reduce(0, &+) }

    /// Empties the histogram (`lprocfs_oh_clear`).
    public func clear() {
        for count in counts { count.store(0, ordering: .relaxed) }
    }

    /// One read/write section of a `brw_stats` file, as `display_brw_stats`
    /// prints it:
    ///
    /// ```
    ///
    ///                            read      |     write
    /// pages per bulk r/w     rpcs  % cum % |  rpcs        % cum %
    /// 1:		         3  50  50   |    0   0   0
    /// ```
    ///
    /// `scale` 0 labels rows by bucket number; otherwise by `scale << bucket`
    /// with K and M suffixes (1 for page counts, 4096 for I/O sizes).
    public static func formatReadWrite(name: String, units: String, read: ObdHistogram,
                                       write: ObdHistogram, scale: UInt64) -> String {
        let r = read.buckets, w = write.buckets
        let readTotal = r.reduce(0, &+), writeTotal = w.reduce(0, &+)
        var out = "\n" + String(repeating: " ", count: 26) + " read      |     write\n"
        out += LProcText.left(name, 22) + " " + LProcText.left(units, 5) + " % cum % |  "
            + LProcText.left(units, 11) + " % cum %\n"
        var readCum: UInt64 = 0, writeCum: UInt64 = 0
        for i in 0..<bucketCount {
            readCum += r[i]
            writeCum += w[i]
            if readCum == 0 && writeCum == 0 { continue }
            let label: String
            if scale == 0 {
                label = String(i)
            } else if i < 10 {
                label = String(scale << UInt64(i))
            } else if i < 20 {
                label = "\(scale << UInt64(i - 10))K"
            } else {
                label = "\(scale << UInt64(i - 20))M"
            }
            out += label + ":\t\t" + LProcText.right(r[i], 10) + " " + LProcText.right(LProcText.percent(r[i], readTotal), 3)
                + " " + LProcText.right(LProcText.percent(readCum, readTotal), 3) + "   | " + LProcText.right(w[i], 4)
                + " " + LProcText.right(LProcText.percent(w[i], writeTotal), 3) + " " + LProcText.right(LProcText.percent(writeCum, writeTotal), 3) + "\n"
            if readCum == readTotal && writeCum == writeTotal { break }
        }
        return out
    }
}
