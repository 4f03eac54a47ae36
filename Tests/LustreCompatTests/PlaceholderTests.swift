import XCTest
@testable import LustreCompat
final class PlaceholderTests: XCTestCase { func testBuilds() {} }
