@testable import LibCFS
import XCTest

final class JobStatsTests: XCTestCase {
    private enum Op: Int { case writeBytes, getattr }
    private let counters = [LProcStats.Counter("write_bytes", unit: "bytes", keepsSumSquare: true),
                            LProcStats.Counter("getattr", unit: "usecs", keepsSumSquare: true)]

    func testFormatIsLustresYAMLWithEveryCounter() throws {
        let jobs = JobStats(counters)
        jobs.record("dd.1000", Op.writeBytes, 4096)
        jobs.record("dd.1000", Op.writeBytes, 1 << 20)
        let text = jobs.format()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines[0], "job_stats:")
        XCTAssertEqual(lines[1], "- job_id:          dd.1000")
        XCTAssertTrue(lines[2].hasPrefix("  snapshot_time:   "), lines[2])
        XCTAssertTrue(lines[2].hasSuffix(" secs.nsecs"), lines[2])
        XCTAssertTrue(lines[3].hasPrefix("  start_time:      "), lines[3])
        XCTAssertTrue(lines[4].hasPrefix("  elapsed_time:    "), lines[4])
        XCTAssertEqual(lines[5], "  write_bytes:     { samples:           2, unit: bytes, min:     4096, max:  1048576, "
                       + "sum:          1052672, sumsq:      1099528404992 }")
        // A counter with no samples is printed too, with zeros.
        XCTAssertEqual(lines[6], "  getattr:         { samples:           0, unit: usecs, min:        0, max:        0, "
                       + "sum:                0, sumsq:                  0 }")
        XCTAssertEqual(lines.count, 8)
        XCTAssertEqual(lines[7], "")
    }

    func testNoJobsPrintsNothing() {
        XCTAssertEqual(JobStats(counters).format(), "")
    }

    func testRequestsWithoutAJobIDAreNotCounted() {
        let jobs = JobStats(counters)
        jobs.record("", Op.getattr, 10)
        XCTAssertEqual(jobs.jobIDs, [])
    }

    func testJobsPrintInArrivalOrderAndCountSeparately() {
        let jobs = JobStats(counters)
        jobs.record("zeta", Op.getattr, 5)
        jobs.record("alpha", Op.getattr, 7)
        jobs.record("zeta", Op.getattr, 9)
        XCTAssertEqual(jobs.jobIDs, ["zeta", "alpha"])
        XCTAssertEqual(jobs.snapshot("zeta", Op.getattr.rawValue)?.count, 2)
        XCTAssertEqual(jobs.snapshot("alpha", Op.getattr.rawValue)?.sum, 7)
    }

    func testJobsIdleLongerThanTheCleanupIntervalAreDropped() {
        let jobs = JobStats(counters, cleanupInterval: 10)
        jobs.record("old", Op.getattr, 1)
        let now = WallClock.now()
        jobs.cleanup(force: true, now: WallClock.Time(seconds: now.seconds + 5, nanoseconds: now.nanoseconds))
        XCTAssertEqual(jobs.jobIDs, ["old"], "5 s idle is within the interval")
        jobs.cleanup(force: true, now: WallClock.Time(seconds: now.seconds + 11, nanoseconds: now.nanoseconds))
        XCTAssertEqual(jobs.jobIDs, [])
    }

    func testZeroCleanupIntervalKeepsJobs() {
        let jobs = JobStats(counters, cleanupInterval: 0)
        jobs.record("kept", Op.getattr, 1)
        let now = WallClock.now()
        jobs.cleanup(force: true, now: WallClock.Time(seconds: now.seconds + 100_000, nanoseconds: 0))
        XCTAssertEqual(jobs.jobIDs, ["kept"])
    }

    func testWritingClearOrAJobIDDropsJobs() throws {
        let jobs = JobStats(counters)
        jobs.record("a", Op.getattr)
        jobs.record("b", Op.getattr)
        try jobs.write("a\n")
        XCTAssertEqual(jobs.jobIDs, ["b"])
        XCTAssertThrowsError(try jobs.write("nosuchjob"))
        try jobs.write("clear")
        XCTAssertEqual(jobs.jobIDs, [])
    }

    func testOddJobIDsAreQuotedAndEscapedAndCanBeRemovedAsPrinted() throws {
        let jobs = JobStats(counters)
        jobs.record("my job", Op.getattr)
        jobs.record("host:1", Op.getattr)
        XCTAssertTrue(jobs.format().contains("- job_id:          \"my\\x20job\"\n"), jobs.format())
        XCTAssertTrue(jobs.format().contains("- job_id:          \"host:1\"\n"), jobs.format())
        try jobs.write("\"my\\x20job\"")
        XCTAssertEqual(jobs.jobIDs, ["host:1"])
    }

    func testLongJobIDsAreCutAsOnTheWire() {
        let jobs = JobStats(counters)
        jobs.record(String(repeating: "j", count: 40), Op.getattr)
        XCTAssertEqual(jobs.jobIDs, [String(repeating: "j", count: 31)])
    }

    func testParametersReadClearAndSetTheInterval() throws {
        let tree = ParamTree()
        let jobs = JobStats(counters)
        try jobs.register(device: "obdfilter.testfs-OST0000", in: tree)
        jobs.record("dd.1", Op.writeBytes, 100)
        XCTAssertTrue(try tree.get("obdfilter.*.job_stats")[0].value.contains("job_id:          dd.1"))
        XCTAssertEqual(try tree.get("obdfilter.testfs-OST0000.job_cleanup_interval")[0].value, "600")
        try tree.set("obdfilter.testfs-OST0000.job_cleanup_interval", value: "30")
        XCTAssertEqual(jobs.cleanupInterval, 30)
        XCTAssertThrowsError(try tree.set("obdfilter.testfs-OST0000.job_cleanup_interval", value: "-1"))
        try tree.set("obdfilter.*.job_stats", value: "clear")
        XCTAssertEqual(try tree.get("obdfilter.testfs-OST0000.job_stats")[0].value, "")
        jobs.unregister(device: "obdfilter.testfs-OST0000", from: tree)
        XCTAssertEqual(tree.listAll(), [])
    }

    func testConcurrentRecordingLosesNothing() async {
        let jobs = JobStats(counters)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for _ in 0..<1000 { jobs.record("job\(task % 2)", Op.writeBytes, 3) }
                }
            }
        }
        XCTAssertEqual(jobs.snapshot("job0", Op.writeBytes.rawValue)?.count, 4000)
        XCTAssertEqual(jobs.snapshot("job1", Op.writeBytes.rawValue)?.sum, 12000)
    }
}
