import XCTest
@testable import LibCFS

final class TimeAndBackoffTests: XCTestCase {
    func testMonotonicClockNeverGoesBackwards() {
        var last = MonotonicClock.nanoseconds()
        for _ in 0..<1000 {
            let now = MonotonicClock.nanoseconds()
            XCTAssertGreaterThanOrEqual(now, last)
            last = now
        }
    }

    func testMonotonicClockMeasuresSleep() {
        let start = MonotonicClock.nanoseconds()
        usleep(20_000)
        XCTAssertGreaterThanOrEqual(MonotonicClock.elapsed(since: start), .milliseconds(19))
    }

    func testWallClockTimeNormalisesAndPrintsNineDigits() {
        XCTAssertEqual(WallClock.Time(seconds: 1, nanoseconds: 1_500_000_000).description, "2.500000000")
        XCTAssertEqual(WallClock.Time(seconds: 2, nanoseconds: -1).description, "1.999999999")
    }

    func testBackoffGrowsByMultiplierUpToMaximum() {
        var b = Backoff(minimum: .seconds(1), maximum: .seconds(10), multiplier: 2)
        XCTAssertEqual((0..<6).map { _ in b.next() },
                       [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(10), .seconds(10)])
    }

    func testBackoffResetStartsAgainFromMinimum() {
        var b = Backoff(minimum: .milliseconds(100), maximum: .seconds(5))
        _ = b.next(); _ = b.next(); _ = b.next()
        b.reset()
        XCTAssertEqual(b.next(), .milliseconds(100))
    }

    func testBackoffJitterStaysWithinBoundsAndVaries() {
        var b = Backoff(minimum: .seconds(4), maximum: .seconds(4), multiplier: 2, jitter: 0.25)
        let delays = (0..<200).map { _ in b.next() }
        XCTAssertTrue(delays.allSatisfy { $0 >= .seconds(3) && $0 <= .seconds(4) })
        XCTAssertGreaterThan(Set(delays).count, 10)
    }
}
