import XCTest
@testable import LibCFS

final class LProcStatsTests: XCTestCase {
    private enum Op: Int { case read, write, ping }

    private func stats() -> LProcStats {
        LProcStats([
            .init("read_bytes", unit: "bytes", keepsSumSquare: true),
            .init("write_bytes", unit: "bytes", keepsSumSquare: true),
            .init("ping", unit: "reqs", keepsMinMaxSum: false),
        ])
    }

    func testFormatMatchesLustreStatsFileExactly() {
        let s = stats()
        s.record(Op.read, 4096)
        s.record(Op.read, 1_048_576)
        s.record(Op.ping)
        let now = WallClock.Time(seconds: 1_700_000_000, nanoseconds: 123_456_789)
        let start = s.startTime
        let expected = """
            snapshot_time             1700000000.123456789 secs.nsecs
            start_time                \(start) secs.nsecs
            elapsed_time              \(now.since(start)) secs.nsecs
            read_bytes                2 samples [bytes] 4096 1048576 1052672 1099528404992
            ping                      1 samples [reqs]

            """
        XCTAssertEqual(s.format(now: now), expected)
    }

    func testHeaderPrintsNineFractionDigits() {
        let header = LProcStats.header(now: WallClock.Time(seconds: 20, nanoseconds: 5),
                                       start: WallClock.Time(seconds: 10, nanoseconds: 7))
        XCTAssertEqual(header, """
            snapshot_time             20.000000005 secs.nsecs
            start_time                10.000000007 secs.nsecs
            elapsed_time              9.999999998 secs.nsecs

            """)
    }

    func testCountersWithoutSamplesAreLeftOut() {
        let s = stats()
        s.record(Op.write, 1)
        let text = s.format()
        XCTAssertFalse(text.contains("read_bytes"))
        XCTAssertTrue(text.contains("write_bytes"))
    }

    func testLongNamesAreNotTruncated() {
        let s = LProcStats([.init("a_counter_name_longer_than_25", unit: "usecs")])
        s.record(0, 3)
        XCTAssertTrue(s.format().contains("\na_counter_name_longer_than_25 1 samples [usecs] 3 3 3\n"))
    }

    func testResetClearsCountersAndRestartsStartTime() throws {
        let s = stats()
        s.record(Op.read, 10)
        let before = s.startTime
        usleep(2000)
        s.reset()
        XCTAssertEqual(s.snapshot(Op.read.rawValue), LProcStats.Snapshot())
        XCTAssertGreaterThan(s.startTime, before)
    }

    func testSnapshotKeepsMinMaxSumAndSumSquare() {
        let s = stats()
        for v: Int64 in [5, -2, 9] { s.record(Op.read, v) }
        XCTAssertEqual(s.snapshot(Op.read.rawValue),
                       LProcStats.Snapshot(count: 3, min: -2, max: 9, sum: 12, sumSquare: 110))
    }

    func testConcurrentRecordsAreAllCounted() async {
        let s = stats()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask { for _ in 0..<10_000 { s.record(Op.write, 2) } }
            }
        }
        let snap = s.snapshot(Op.write.rawValue)
        XCTAssertEqual(snap.count, 80_000)
        XCTAssertEqual(snap.sum, 160_000)
    }

    func testHistogramLog2BucketsArePowersOfTwo() {
        let h = ObdHistogram()
        for v: UInt64 in [0, 1, 2, 3, 4, 5, 8, 9, 1 << 40] { h.tallyLog2(v) }
        let b = h.buckets
        XCTAssertEqual(b[0], 2)   // 0, 1
        XCTAssertEqual(b[1], 1)   // 2
        XCTAssertEqual(b[2], 2)   // 3, 4
        XCTAssertEqual(b[3], 2)   // 5, 8
        XCTAssertEqual(b[4], 1)   // 9
        XCTAssertEqual(b[31], 1)  // clamped
        XCTAssertEqual(h.sum, 9)
    }

    func testBRWStatsSectionMatchesDisplayBrwStats() {
        // Rows start at the first non-empty bucket and stop once both sides are complete.
        let read = ObdHistogram(), write = ObdHistogram()
        read.tallyLog2(1); read.tallyLog2(1); read.tallyLog2(256)
        write.tallyLog2(1024)
        let text = ObdHistogram.formatReadWrite(name: "pages per bulk r/w", units: "rpcs",
                                                read: read, write: write, scale: 1)
        let expected = "\n                           read      |     write\n"
            + "pages per bulk r/w     rpcs  % cum % |  rpcs        % cum %\n"
            + "1:\t\t         2  66  66   |    0   0   0\n"
            + ["2", "4", "8", "16", "32", "64", "128"].map { "\($0):\t\t         0   0  66   |    0   0   0\n" }.joined()
            + "256:\t\t         1  33 100   |    0   0   0\n"
            + "512:\t\t         0   0 100   |    0   0   0\n"
            + "1K:\t\t         0   0 100   |    1 100 100\n"
        XCTAssertEqual(text, expected)
    }

    func testHistogramClear() {
        let h = ObdHistogram()
        h.tally(3)
        h.clear()
        XCTAssertEqual(h.sum, 0)
    }
}
