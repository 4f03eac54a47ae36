import LibCFS
import PtlRPC
import Synchronization

/// The histograms behind `osc.<device>.rpc_stats` (Lustre's `cl_read_page_hist`,
/// `cl_write_rpc_hist`, `cl_read_offset_hist`… of `client_obd`): for every OST_READ and
/// OST_WRITE this OSC builds, its pages, how many RPCs of its direction were in flight with it,
/// and its starting page in the object. Writing anything to the file clears them.
final class OSCRPCStats: Sendable {
    struct Direction: Sendable {
        /// Pages per RPC, by log2 bucket.
        let pages = ObdHistogram()
        /// RPCs of this direction in flight once this one left (itself included).
        let inFlight = ObdHistogram()
        /// Starting object page + 1, by log2 bucket.
        let offset = ObdHistogram()

        func clear() {
            pages.clear()
            inFlight.clear()
            offset.clear()
        }
    }

    let read = Direction()
    let write = Direction()
    /// When counting started (creation or the last clear): `start_time`.
    private let start: Mutex<WallClock.Time>

    init(start: WallClock.Time = WallClock.now()) {
        self.start = Mutex(start)
    }

    /// Counts one RPC of `pages` pages starting at object byte `offset`, sent while `inFlight`
    /// RPCs of its direction (itself included) were out (`osc_build_rpc`).
    func tally(isWrite: Bool, pages: Int, offset: UInt64, inFlight: Int) {
        let direction = isWrite ? write : read
        direction.pages.tallyLog2(UInt64(max(pages, 1)))
        direction.inFlight.tally(inFlight)
        direction.offset.tallyLog2(offset / UInt64(OSCDevice.pageSize) + 1)
    }

    func clear() {
        read.clear()
        write.clear()
        start.withLock { $0 = WallClock.now() }
    }

    /// The file, as `osc_rpc_stats_seq_show` prints it (Lustre 2.16, without the direct I/O line
    /// and latency table: there is no direct I/O here).
    func format(now: WallClock.Time = WallClock.now(), readsInFlight: Int, writesInFlight: Int,
                pendingReadPages: Int, pendingWritePages: Int) -> String {
        var out = PtlRPCClientStats.rpcStatsHeader(now: now, start: start.withLock { $0 })
        out += "read RPCs in flight:  \(readsInFlight)\n"
        out += "write RPCs in flight: \(writesInFlight)\n"
        out += "pending write pages:  \(pendingWritePages)\n"
        out += "pending read pages:   \(pendingReadPages)\n"
        out += Self.section("pages per rpc", read.pages, write.pages, from: 0) { String(1 << $0) }
        out += Self.section("rpcs in flight", read.inFlight, write.inFlight, from: 1) { String($0) }
        out += Self.section("offset", read.offset, write.offset, from: 0) { $0 == 0 ? "0" : String(1 << ($0 - 1)) }
        return out
    }

    /// One read/write table: rows from bucket `from` until both columns are complete.
    private static func section(_ title: String, _ read: ObdHistogram, _ write: ObdHistogram, from first: Int,
                                label: (Int) -> String) -> String {
        let r = read.buckets, w = write.buckets
        let readTotal = r.reduce(0, &+), writeTotal = w.reduce(0, &+)
        var out = "\n\t\t\tread\t\t\twrite\n"
        out += LProcText.left(title, 22) + "rpcs   % cum % |       rpcs   % cum %\n"
        /// `rpcs % cum %` of one direction.
        func column(_ count: UInt64, _ cumulative: UInt64, _ total: UInt64) -> String {
            LProcText.right(count, 10) + " " + LProcText.right(LProcText.percent(count, total), 3) + " "
                + LProcText.right(LProcText.percent(cumulative, total), 3)
        }
        var readSum: UInt64 = 0, writeSum: UInt64 = 0
        for bucket in first..<ObdHistogram.bucketCount {
            readSum += r[bucket]
            writeSum += w[bucket]
            out += "\(label(bucket)):\t\t" + column(r[bucket], readSum, readTotal) + "   | "
                + column(w[bucket], writeSum, writeTotal) + "\n"
            if readSum == readTotal && writeSum == writeTotal { break }
        }
        return out
    }
}
