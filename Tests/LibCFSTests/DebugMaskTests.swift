import XCTest
import CLibCFS
@testable import LibCFS

final class DebugMaskTests: XCTestCase {
    func testBitsFollowLibcfsDebugH() {
        XCTAssertEqual(DebugMask.trace.rawValue, 0x0000_0001)
        XCTAssertEqual(DebugMask.iotrace.rawValue, 0x0000_0008)
        XCTAssertEqual(DebugMask.neterror.rawValue, 0x0000_0100)
        XCTAssertEqual(DebugMask.warning.rawValue, 0x0000_0400)
        XCTAssertEqual(DebugMask.error.rawValue, 0x0002_0000)
        XCTAssertEqual(DebugMask.console.rawValue, 0x0200_0000)
        XCTAssertEqual(DebugMask.layout.rawValue, 0x8000_0000)
        XCTAssertEqual(DebugMask.names.count, 32)
    }

    func testDefaultMaskPrintsAsLustreDefault() {
        XCTAssertEqual(DebugMask.default.description,
                       "ioctl neterror warning error emerg ha config console lfsck")
    }

    func testCGlobalStartsAtTheDefaultMask() {
        XCTAssertEqual(LIBCFS_D_DEFAULT, DebugMask.default.rawValue)
        XCTAssertEqual(LustreDebug.alwaysKeptRaw, LustreDebug.alwaysKept.rawValue)
    }

    func testEmptyMaskPrintsZero() {
        XCTAssertEqual(DebugMask().description, "0")
    }

    func testPlusAndMinusAreRelativeToCurrent() throws {
        let mask = try DebugMask.parse("+net -ioctl", relativeTo: .default)
        XCTAssertTrue(mask.contains(.net))
        XCTAssertFalse(mask.contains(.ioctl))
        XCTAssertTrue(mask.contains(.ha))
    }

    func testOperatorAppliesToFollowingNamesUntilTheNext() throws {
        let mask = try DebugMask.parse("+net rpctrace -ha config", relativeTo: .default)
        XCTAssertTrue(mask.isSuperset(of: [.net, .rpctrace]))
        XCTAssertTrue(mask.isDisjoint(with: [.ha, .config]))
    }

    func testPlainListReplacesButKeepsAlwaysOnKinds() throws {
        let mask = try DebugMask.parse("net trace", relativeTo: .default)
        XCTAssertEqual(mask, DebugMask([.net, .trace]).union(.cantMask))
    }

    func testAllAndMinusOneSetEveryBit() throws {
        XCTAssertEqual(try DebugMask.parse("all", relativeTo: []), .all)
        XCTAssertEqual(try DebugMask.parse("-1", relativeTo: []), .all)
    }

    func testZeroAndNoneClearEveryBit() throws {
        XCTAssertEqual(try DebugMask.parse("0", relativeTo: .all), [])
        XCTAssertEqual(try DebugMask.parse("none", relativeTo: .all), [])
    }

    func testMinusAllLeavesOnlyCantMask() throws {
        XCTAssertEqual(try DebugMask.parse("-all", relativeTo: .all), .cantMask)
    }

    func testDefaultKeywordRestoresDefault() throws {
        XCTAssertEqual(try DebugMask.parse("default", relativeTo: .all), .default)
    }

    func testHexNumberIsTakenAsTheMask() throws {
        XCTAssertEqual(try DebugMask.parse("0x200", relativeTo: .all), .net)
    }

    func testNamesAreCaseInsensitiveAndCommaSeparated() throws {
        XCTAssertEqual(try DebugMask.parse("+NET,HA", relativeTo: []), [.net, .ha])
    }

    func testUnknownNameIsEINVALQuotingTheWord() {
        XCTAssertThrowsError(try DebugMask.parse("+net bogus", relativeTo: .default)) { error in
            let e = error as! LustreError
            XCTAssertEqual(e.errno, EINVAL)
            XCTAssertTrue(e.context.contains("'bogus'"), e.context)
        }
    }

    func testTrailingOperatorIsEINVAL() {
        XCTAssertThrowsError(try DebugMask.parse("+net -", relativeTo: .default))
    }

    func testFormatThenParseRoundTrips() throws {
        let mask: DebugMask = [.trace, .cache, .rpctrace, .layout, .cantMask]
        XCTAssertEqual(try DebugMask.parse(mask.description, relativeTo: []), mask)
    }
}
