import LibCFS
import XCTest

@testable import OSC

/// `osc.*.rpc_stats` byte for byte as Lustre's `osc_rpc_stats_seq_show` prints it.
final class OSCRPCStatsTests: XCTestCase {
    func testTextIsLustresRPCStats() {
        let stats = OSCRPCStats()
        // Writes: two full 4 MiB RPCs at object pages 0 and 1024 with 1 and 2 in flight; one of
        // 3 pages at page 5 (row 4: pages 4-7). A read of one page at page 0 alone.
        stats.tally(isWrite: true, pages: 1024, offset: 0, inFlight: 1)
        stats.tally(isWrite: true, pages: 1024, offset: 4 << 20, inFlight: 2)
        stats.tally(isWrite: true, pages: 3, offset: 5 * 4096, inFlight: 2)
        stats.tally(isWrite: false, pages: 1, offset: 0, inFlight: 1)
        let text = stats.format(now: WallClock.Time(seconds: 1_700_000_000, nanoseconds: 5), readsInFlight: 0,
                                writesInFlight: 1, pendingReadPages: 0, pendingWritePages: 256)
        var expected = """
            snapshot_time:         1700000000.000000005 (secs.nsecs)
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
