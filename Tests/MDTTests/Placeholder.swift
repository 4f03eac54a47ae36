import XCTest
// Placeholder so the test target builds; replaced by real tests.
final class PlaceholderTests: XCTestCase {}
