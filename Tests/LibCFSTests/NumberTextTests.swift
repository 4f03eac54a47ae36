import XCTest
@testable import LibCFS

final class NumberTextTests: XCTestCase {
    func testSizesTakeBinarySuffixes() throws {
        XCTAssertEqual(try NumberText.size("4096"), 4096)
        XCTAssertEqual(try NumberText.size("4K"), 4096)
        XCTAssertEqual(try NumberText.size("1m"), 1 << 20)
        XCTAssertEqual(try NumberText.size("2G"), 2 << 30)
    }

    func testBadSizesAreEINVALQuotingTheText() {
        for text in ["", "M", "-1K", "1.5M", "12X", "99999999999T"] {
            XCTAssertThrowsError(try NumberText.size(text)) { error in
                let lustre = error as? LustreError
                XCTAssertEqual(lustre?.errno, EINVAL, text)
                XCTAssertTrue(lustre?.context.contains("'\(text)'") ?? false, text)
            }
        }
    }

    func testFixedRoundsToTheGivenDecimals() {
        XCTAssertEqual(NumberText.fixed(3.14159, 2), "3.14")
        XCTAssertEqual(NumberText.fixed(2.5, 0), "3")
        XCTAssertEqual(NumberText.fixed(1.05, 1), "1.1")
        XCTAssertEqual(NumberText.fixed(0.004, 2), "0.00")
        XCTAssertEqual(NumberText.fixed(-1.25, 1), "-1.3")
        XCTAssertEqual(NumberText.fixed(1234.5, 1), "1234.5")
    }
}
