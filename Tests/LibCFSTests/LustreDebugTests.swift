import XCTest
import Logging
@testable import LibCFS

final class LustreDebugTests: XCTestCase {
    private var savedMask = DebugMask.default

    override func setUp() {
        savedMask = LustreDebug.mask
        LustreDebug.clear()
    }

    override func tearDown() {
        LustreDebug.mask = savedMask
        try? LustreDebug.setBufferMegabytes(LustreDebug.defaultBufferMegabytes)
        LustreDebug.clear()
    }

    func testDisabledCDEBUGNeverBuildsItsMessage() {
        LustreDebug.mask = .default
        var built = false
        func expensive() -> String { built = true; return "x" }
        CDEBUG(.trace, expensive())
        XCTAssertFalse(built)
        XCTAssertTrue(LustreDebug.dump().isEmpty)
    }

    func testEnabledCDEBUGLandsInTheRing() {
        LustreDebug.mask = [.net]
        CDEBUG(.net, "peer 192.168.1.2@tcp is up")
        let lines = LustreDebug.dump()
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasSuffix(") peer 192.168.1.2@tcp is up\n"), lines[0])
        XCTAssertTrue(lines[0].contains("(LustreDebugTests.swift:"), lines[0])
    }

    func testErrorsAreKeptEvenWithAnEmptyMask() {
        LustreDebug.mask = []
        CERROR("disk on fire")
        CWARN("smoke")
        CNETERR("link down")
        LCONSOLE("evacuating")
        XCTAssertEqual(LustreDebug.dump().count, 4)
    }

    func testDumpWithClearEmptiesTheRing() {
        CERROR("one")
        XCTAssertEqual(LustreDebug.dump(clear: true).count, 1)
        XCTAssertTrue(LustreDebug.dump().isEmpty)
    }

    func testDumpWithoutClearKeepsTheRing() {
        CERROR("one")
        _ = LustreDebug.dump()
        XCTAssertEqual(LustreDebug.dump().count, 1)
    }

    func testRingDropsOldestLinesBeyondItsCapacity() {
        let ring = DebugRing(capacityBytes: 100)
        for i in 0..<50 { ring.append("line \(i)\n") }     // 8 or 9 bytes each
        let kept = ring.dump(clear: false)
        XCTAssertEqual(kept.last, "line 49\n")
        XCTAssertLessThanOrEqual(kept.reduce(0) { $0 + $1.utf8.count }, 100)
        XCTAssertGreaterThan(ring.droppedCount, 0)
    }

    func testShrinkingTheRingDropsAtOnce() {
        let ring = DebugRing(capacityBytes: 1000)
        for i in 0..<50 { ring.append("line \(i)\n") }
        ring.setCapacity(bytes: 20)
        XCTAssertEqual(ring.dump(clear: false), ["line 48\n", "line 49\n"])
    }

    func testErrorConsoleLineHasSyslogPriorityAndLocation() {
        let record = LustreDebug.Record(mask: .error, message: "bad thing", file: "ofd.swift",
                                        function: "write(_:)", line: 42, pid: 1234,
                                        time: WallClock.Time(seconds: 1, nanoseconds: 0), cpu: 0)
        XCTAssertEqual(record.consoleLine, "<3>LustreError: 1234:0:(ofd.swift:42:write(_:)) bad thing\n")
    }

    func testConsoleMessagesCarryNoLocation() {
        let record = LustreDebug.Record(mask: .console, message: "testfs-OST0000: recovery over\n",
                                        file: "f.swift", function: "f()", line: 1, pid: 1,
                                        time: WallClock.Time(seconds: 1, nanoseconds: 0), cpu: 0)
        XCTAssertEqual(record.consoleLine, "<5>Lustre: testfs-OST0000: recovery over\n")
    }

    func testPrioritiesPerKind() {
        func level(_ m: DebugMask) -> Int {
            LustreDebug.Record(mask: m, message: "", file: "", function: "", line: 0, pid: 0,
                               time: WallClock.Time(seconds: 0, nanoseconds: 0), cpu: 0).priority.level
        }
        XCTAssertEqual(level(.emerg), 0)
        XCTAssertEqual(level(.error), 3)
        XCTAssertEqual(level(.neterror), 3)
        XCTAssertEqual(level(.warning), 4)
        XCTAssertEqual(level(.console), 5)
        XCTAssertEqual(level(.info), 6)
        XCTAssertEqual(level(.rpctrace), 7)
    }

    func testDebugLogLineFollowsLctlDkFormat() {
        let record = LustreDebug.Record(mask: .net, message: "hello", file: "lnet.swift",
                                        function: "send()", line: 7, pid: 99,
                                        time: WallClock.Time(seconds: 1_700_000_000, nanoseconds: 1_500),
                                        cpu: 1)
        XCTAssertEqual(record.debugLogLine,
                       "00000000:00000200:1.0:1700000000.000001:0:99:0:(lnet.swift:7:send()) hello\n")
    }

    func testDebugParamSetsMaskRelatively() throws {
        LustreDebug.mask = .default
        try ParamTree.shared.set("debug", value: "+net -ioctl")
        XCTAssertTrue(LustreDebug.mask.contains(.net))
        XCTAssertFalse(LustreDebug.mask.contains(.ioctl))
        XCTAssertEqual(try ParamTree.shared.get("debug").first?.value, LustreDebug.mask.description)
    }

    func testBadDebugParamKeepsTheOldMask() {
        LustreDebug.mask = .default
        XCTAssertThrowsError(try ParamTree.shared.set("debug", value: "+net nonsense"))
        XCTAssertEqual(LustreDebug.mask, .default)
    }

    func testDebugMBParamRejectsZeroAndKeepsOldValue() throws {
        try ParamTree.shared.set("debug_mb", value: "8")
        XCTAssertEqual(LustreDebug.bufferMegabytes, 8)
        XCTAssertThrowsError(try ParamTree.shared.set("debug_mb", value: "0"))
        XCTAssertEqual(try ParamTree.shared.get("debug_mb").first?.value, "8")
    }

    func testLogHandlerWritesThroughTheMask() {
        LustreDebug.mask = [.info]
        var logger = Logger(label: "lnet", factory: LustreLogHandler.init)
        logger[metadataKey: "nid"] = "0@lo"
        logger.info("started")
        logger.debug("hidden")            // .other is off
        let lines = LustreDebug.dump()
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasSuffix(" lnet: started nid=0@lo\n"), lines[0])
    }

    func testLogHandlerLevelFollowsMask() {
        LustreDebug.mask = []
        XCTAssertEqual(LustreLogHandler(label: "x").logLevel, .notice)
        LustreDebug.mask = [.trace]
        XCTAssertEqual(LustreLogHandler(label: "x").logLevel, .trace)
    }
}
