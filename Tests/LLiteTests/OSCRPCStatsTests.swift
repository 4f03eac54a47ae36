import LibCFS
import XCTest

@testable import MDC
@testable import OSC

/// `osc.*.rpc_stats` byte for byte as Lustre's `osc_rpc_stats_seq_show` prints it.
final class OSCRPCStatsTests: XCTestCase {
    func testTextIsLustresRPCStats() {
        let stats = OSCRPCStats(start: WallClock.Time(seconds: 1_699_999_000, nanoseconds: 0))
        // Writes: two full 4 MiB RPCs at object pages 0 and 1024 with 1 and 2 in flight; one of
        // 3 pages at page 5 (row 4: pages 4-7). A read of one page at page 0 alone.
        stats.tally(isWrite: true, pages: 1024, offset: 0, inFlight: 1)
        stats.tally(isWrite: true, pages: 1024, offset: 4 << 20, inFlight: 2)
        stats.tally(isWrite: true, pages: 3, offset: 5 * 4096, inFlight: 2)
        stats.tally(isWrite: false, pages: 1, offset: 0, inFlight: 1)
        let text = stats.format(now: WallClock.Time(seconds: 1_700_000_000, nanoseconds: 5), readsInFlight: 0,
                                writesInFlight: 1, pendingReadPages: 0, pendingWritePages: 256)
        var expected = """
            snapshot_time:            1700000000.000000005 secs.nsecs
            start_time:               1699999000.000000000 secs.nsecs
            elapsed_time:             1000.000000005 secs.nsecs
            read RPCs in flight:  0
            write RPCs in flight: 1
            pending write pages:  256
            pending read pages:   0

            \t\t\tread\t\t\twrite
            pages per rpc         rpcs   % cum % |       rpcs   % cum %
            1:\t\t         1 100 100   |          0   0   0
            2:\t\t         0   0 100   |          0   0   0
            4:\t\t         0   0 100   |          1  33  33

            """
        for pages in [8, 16, 32, 64, 128, 256, 512] {
            expected += "\(pages):\t\t         0   0 100   |          0   0  33\n"
        }
        expected += """
            1024:\t\t         0   0 100   |          2  66 100

            \t\t\tread\t\t\twrite
            rpcs in flight        rpcs   % cum % |       rpcs   % cum %
            1:\t\t         1 100 100   |          1  33  33
            2:\t\t         0   0 100   |          2  66 100

            \t\t\tread\t\t\twrite
            offset                rpcs   % cum % |       rpcs   % cum %
            0:\t\t         1 100 100   |          1  33  33
            1:\t\t         0   0 100   |          0   0  33
            2:\t\t         0   0 100   |          0   0  33
            4:\t\t         0   0 100   |          1  33  66
            8:\t\t         0   0 100   |          0   0  66
            16:\t\t         0   0 100   |          0   0  66
            32:\t\t         0   0 100   |          0   0  66
            64:\t\t         0   0 100   |          0   0  66
            128:\t\t         0   0 100   |          0   0  66
            256:\t\t         0   0 100   |          0   0  66
            512:\t\t         0   0 100   |          0   0  66
            1024:\t\t         0   0 100   |          1  33 100

            """
        XCTAssertEqual(text, expected)
    }

    func testMDCTextIsLustresModifyRPCStats() {
        let stats = MDCRPCStats(start: WallClock.Time(seconds: 1_699_999_990, nanoseconds: 0))
        // One modify RPC alone; three at once (leaving with 1, 2, 3 out); two end and one more
        // leaves with 2 out, which stay.
        stats.started()
        stats.finished()
        stats.started()
        stats.started()
        stats.started()
        stats.finished()
        stats.finished()
        stats.started()
        let text = stats.format(now: WallClock.Time(seconds: 1_700_000_000, nanoseconds: 0))
        XCTAssertEqual(text, """
            snapshot_time:            1700000000.000000000 secs.nsecs
            start_time:               1699999990.000000000 secs.nsecs
            elapsed_time:             10.000000000 secs.nsecs
            modify_RPCs_in_flight:  2

            \t\t\tmodify
            rpcs in flight        rpcs   % cum %
            0:\t\t         0   0   0
            1:\t\t         2  40  40
            2:\t\t         2  40  80
            3:\t\t         1  20 100

            read RPCs in flight:  0
            write RPCs in flight: 0
            pending write pages:  0
            pending read pages:   0

            \t\t\tread\t\t\twrite
            pages per rpc         rpcs   % cum % |       rpcs   % cum %
            1:\t\t         0   0   0   |          0   0   0

            \t\t\tread\t\t\twrite
            rpcs in flight        rpcs   % cum % |       rpcs   % cum %
            1:\t\t         0   0   0   |          0   0   0

            \t\t\tread\t\t\twrite
            offset                rpcs   % cum % |       rpcs   % cum %
            0:\t\t         0   0   0   |          0   0   0

            """)
        stats.clear()
        XCTAssertTrue(stats.format().contains("\n0:\t\t         0   0   0\n\n"), "cleared: one empty row")
    }

    func testClearEmptiesEveryTable() {
        let stats = OSCRPCStats()
        stats.tally(isWrite: true, pages: 16, offset: 1 << 30, inFlight: 3)
        stats.clear()
        let text = stats.format(readsInFlight: 0, writesInFlight: 0, pendingReadPages: 0, pendingWritePages: 0)
        let rows = text.split(separator: "\n").filter { $0.contains(":\t\t") }
        XCTAssertEqual(rows, ["1:\t\t         0   0   0   |          0   0   0",
                              "1:\t\t         0   0   0   |          0   0   0",
                              "0:\t\t         0   0   0   |          0   0   0"], text)
    }
}
