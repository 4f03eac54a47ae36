import Atomics
import LibCFS

/// The bulk I/O histograms of one OSD (Lustre's `brw_stats`, shown as
/// `obdfilter.<target>.brw_stats`), read and write side by side:
///
/// | table | tallied | where |
/// | --- | --- | --- |
/// | `pages per bulk r/w` | pages of each BRW, log2 | OFD, per RPC |
/// | `discontiguous pages` | breaks in the BRW's page run | OFD, per RPC |
/// | `disk fragmented I/Os` | separate file I/Os for one BRW (one per niobuf) | OFD, per RPC |
/// | `disk I/Os in flight` | file I/Os under way on this OSD as each starts | OSD, per I/O |
/// | `I/O time (1/1000s)` | milliseconds from the BRW's first I/O to its last one done, log2 | OFD, per RPC |
/// | `disk I/O size` | bytes of each file I/O, log2 | OSD, per I/O |
///
/// Lustre's `discontiguous blocks` table needs the block map of ldiskfs, which a file I/O
/// does not see; it is left out, as osd-zfs leaves it.  Writing anything clears all tables.
public final class OSDBRWStats: Sendable {
    /// Which column a sample goes to.
    public enum Direction: Int, Sendable {
        case read = 0, write = 1
    }

    /// One table: its title, unit, and label scale (`display_brw_stats`).
    private struct Table {
        let name: String
        let units: String
        let scale: UInt64
        let histograms: [ObdHistogram] = [ObdHistogram(), ObdHistogram()]
    }

    private let pages = Table(name: "pages per bulk r/w", units: "rpcs", scale: 1)
    private let discontiguousPages = Table(name: "discontiguous pages", units: "rpcs", scale: 0)
    private let fragments = Table(name: "disk fragmented I/Os", units: "ios", scale: 0)
    private let inFlight = Table(name: "disk I/Os in flight", units: "ios", scale: 0)
    private let ioTime = Table(name: "I/O time (1/1000s)", units: "ios", scale: 1)
    private let ioSize = Table(name: "disk I/O size", units: "ios", scale: 1)
    private var tables: [Table] { [pages, discontiguousPages, fragments, inFlight, ioTime, ioSize] }

    /// File I/Os under way per direction (`od_r_in_flight`, `od_w_in_flight`).
    private let running = [ManagedAtomic<Int>(0), ManagedAtomic<Int>(0)]

    /// Empty histograms.
    public init() {}

    /// Lustre's page, the unit of `pages per bulk r/w` whatever the machine's page size.
    public static let pageSize: UInt64 = 4096

    /// One BRW of `pieces` (offset and length, in the order the client sent them) took
    /// `milliseconds` of file I/O: tallies its pages, page-run breaks, I/O count and time.
    public func recordBulk(_ direction: Direction, pieces: [(offset: UInt64, length: UInt64)], milliseconds: UInt64) {
        var pageCount: UInt64 = 0
        var breaks = 0
        var lastPage: UInt64?
        for piece in pieces where piece.length > 0 {
            let first = piece.offset / Self.pageSize
            let last = (piece.offset + piece.length - 1) / Self.pageSize
            // A page shared with the previous piece is one page, not a break.
            let start = lastPage == first ? first + 1 : first
            if let lastPage, first != lastPage, first != lastPage + 1 { breaks += 1 }
            if start <= last { pageCount += last - start + 1 }
            lastPage = last
        }
        let side = direction.rawValue
        pages.histograms[side].tallyLog2(pageCount)
        discontiguousPages.histograms[side].tally(breaks)
        fragments.histograms[side].tally(pieces.count)
        ioTime.histograms[side].tallyLog2(milliseconds)
    }

    /// A file I/O of `bytes` starts (`record_start_io`).
    func startIO(_ direction: Direction, bytes: Int) {
        let side = direction.rawValue
        let now = running[side].wrappingIncrementThenLoad(ordering: .relaxed)
        inFlight.histograms[side].tally(now)
        ioSize.histograms[side].tallyLog2(UInt64(Swift.max(bytes, 0)))
    }

    /// A file I/O started with `startIO` is done.
    func endIO(_ direction: Direction) {
        running[direction.rawValue].wrappingDecrement(ordering: .relaxed)
    }

    /// File I/Os under way now in `direction`.
    public func inFlightCount(_ direction: Direction) -> Int { running[direction.rawValue].load(ordering: .relaxed) }

    /// The bucket counts of table `name` (`pages per bulk r/w`...) in `direction`, for tests and
    /// exporters.
    public func buckets(_ name: String, _ direction: Direction) -> [UInt64]? {
        tables.first { $0.name == name }?.histograms[direction.rawValue].buckets
    }

    /// Empties every table, as writing to `brw_stats` does.
    public func clear() {
        for table in tables {
            for histogram in table.histograms { histogram.clear() }
        }
    }

    /// The `brw_stats` file (`brw_stats_show`): the snapshot time, then each table.
    public func format(now: WallClock.Time = WallClock.now()) -> String {
        var out = "snapshot_time:         \(now) (secs.nsecs)\n"
        for table in tables {
            out += ObdHistogram.formatReadWrite(name: table.name, units: table.units, read: table.histograms[0],
                                                write: table.histograms[1], scale: table.scale)
        }
        return out
    }
}
