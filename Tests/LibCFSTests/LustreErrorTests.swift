import XCTest
@testable import LibCFS
final class LustreErrorTests: XCTestCase {
    func testStatusIsNegativeErrno() { XCTAssertEqual(LustreError(errno: 2).status, -2) }
}
