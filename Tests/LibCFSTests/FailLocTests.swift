import XCTest
@testable import LibCFS

final class FailLocTests: XCTestCase {
    override func setUp() {
        FailLoc.value = 0
        FailLoc.failValue = 0
    }

    override func tearDown() {
        FailLoc.value = 0
        FailLoc.failValue = 0
    }

    private func hits(_ id: UInt32, _ calls: Int) -> [Bool] {
        (0..<calls).map { _ in FailLoc.check(id) }
    }

    func testZeroFailLocNeverFires() {
        XCTAssertEqual(hits(0x505, 3), [false, false, false])
    }

    func testPlainFailLocFiresEveryTime() {
        FailLoc.value = 0x505
        XCTAssertEqual(hits(0x505, 3), [true, true, true])
    }

    func testOnlyTheLowSixteenBitsSelectThePlace() {
        FailLoc.value = FailLoc.once | 0x505
        XCTAssertFalse(FailLoc.check(0x506))
        XCTAssertTrue(FailLoc.check(0x505))
    }

    func testOnceFiresOneTimeAndMarksFailed() {
        FailLoc.value = FailLoc.once | 0x505
        XCTAssertEqual(hits(0x505, 3), [true, false, false])
        XCTAssertEqual(FailLoc.value & FailLoc.failed, FailLoc.failed)
    }

    func testSkipLetsFailValHitsPassThenFires() {
        FailLoc.value = FailLoc.skip | 0x505
        FailLoc.failValue = 2
        XCTAssertEqual(hits(0x505, 4), [false, false, true, true])
    }

    func testSkipWithOnceFiresOnlyTheHitAfterTheSkipped() {
        FailLoc.value = FailLoc.skip | FailLoc.once | 0x505
        FailLoc.failValue = 2
        XCTAssertEqual(hits(0x505, 5), [false, false, true, false, false])
    }

    func testSomeFiresFailValTimesThenStops() {
        FailLoc.value = FailLoc.some | 0x505
        FailLoc.failValue = 3
        XCTAssertEqual(hits(0x505, 5), [true, true, true, false, false])
    }

    func testRandFiresAboutOneInFailVal() {
        FailLoc.value = FailLoc.rand | 0x505
        FailLoc.failValue = 4
        let fired = hits(0x505, 4000).filter { $0 }.count
        XCTAssertTrue((700...1300).contains(fired), "fired \(fired) of 4000")
    }

    func testRandWithFailValBelowTwoNeverFires() {
        FailLoc.value = FailLoc.rand | 0x505
        FailLoc.failValue = 1
        XCTAssertFalse(hits(0x505, 100).contains(true))
    }

    func testCheckValueFiresOnlyForMatchingFailVal() {
        FailLoc.value = 0x505
        FailLoc.failValue = 3
        XCTAssertFalse(FailLoc.checkValue(0x505, 2))
        XCTAssertTrue(FailLoc.checkValue(0x505, 3))
    }

    func testCheckValueWithFailValMinusOneMatchesAnything() throws {
        FailLoc.value = 0x505
        try ParamTree.shared.set("fail_val", value: "-1")
        XCTAssertEqual(FailLoc.failValue, UInt32.max)
        XCTAssertTrue(FailLoc.checkValue(0x505, 12345))
    }

    func testSettingFailLocThroughParamTreeAcceptsHex() throws {
        try ParamTree.shared.set("fail_loc", value: "0x80000505")
        XCTAssertEqual(FailLoc.value, 0x8000_0505)
        XCTAssertEqual(try ParamTree.shared.get("fail_loc").first?.value, "2147484933")
    }

    func testBadFailLocIsEINVALAndKeepsOldValue() {
        FailLoc.value = 0x505
        XCTAssertThrowsError(try ParamTree.shared.set("fail_loc", value: "0x1nope"))
        XCTAssertEqual(FailLoc.value, 0x505)
    }

    func testFailTimeoutSleepsWhenItFires() async {
        FailLoc.value = FailLoc.once | 0x214
        let start = MonotonicClock.nanoseconds()
        let fired = await FailLoc.failTimeout(0x214, seconds: 0.2)
        XCTAssertTrue(fired)
        XCTAssertGreaterThanOrEqual(MonotonicClock.nanoseconds() - start, 190_000_000)
    }

    func testFailTimeoutReturnsAtOnceWhenNotArmed() async {
        let start = MonotonicClock.nanoseconds()
        let fired = await FailLoc.failTimeout(0x214, seconds: 5)
        XCTAssertFalse(fired)
        XCTAssertLessThan(MonotonicClock.nanoseconds() - start, 100_000_000)
    }

    func testClearingFailLocInterruptsFailTimeout() async {
        FailLoc.value = 0x214
        let start = MonotonicClock.nanoseconds()
        async let fired = FailLoc.failTimeout(0x214, seconds: 10)
        try? await Task.sleep(nanoseconds: 150_000_000)
        FailLoc.value = 0
        let result = await fired
        XCTAssertTrue(result)
        XCTAssertLessThan(MonotonicClock.nanoseconds() - start, 2_000_000_000)
    }
}
