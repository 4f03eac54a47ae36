import LibCFS
import ObdClass
import XCTest

@testable import LLite

/// What the MDS said of a file before it heard this client's close never shows an older size
/// than that close told it; what it said after does.
final class LLiteClosedSizesTests: XCTestCase {
    private let fid = LustreFID(sequence: 0x2_0000_0400, objectID: 7)

    private func fromMDS(size: UInt64) -> MDTAttributes {
        var attributes = MDTAttributes()
        attributes.fid = fid
        attributes.mode = 0o100644
        attributes.size = size
        attributes.blocks = 0
        return attributes
    }

    func testOlderAnswersTakeTheClosedSize() {
        let sizes = LLiteClosedSizes(lifetime: 1)
        let before = MonotonicClock.nanoseconds()
        XCTAssertEqual(sizes.corrected(fromMDS(size: 0), sent: before).size, 0, "nothing closed yet")
        sizes.closing(fid, size: 85515, blocks: 168)
        let meanwhile = MonotonicClock.nanoseconds()
        var seen = sizes.corrected(fromMDS(size: 0), sent: meanwhile)
        XCTAssertEqual(seen.size, 85515, "a getattr while the close is on its way")
        XCTAssertEqual(seen.blocks, 168)
        sizes.answered(fid)
        XCTAssertEqual(sizes.corrected(fromMDS(size: 0), sent: before).size, 85515, "sent before the close")
        XCTAssertEqual(sizes.corrected(fromMDS(size: 0), sent: nil).size, 85515, "a statahead result of unknown age")
        let after = MonotonicClock.nanoseconds()
        seen = sizes.corrected(fromMDS(size: 10), sent: after)
        XCTAssertEqual(seen.size, 10, "sent after the MDS heard the close: its answer stands (another client truncated)")
        var other = fromMDS(size: 3)
        other.fid = LustreFID(sequence: 0x2_0000_0400, objectID: 8)
        XCTAssertEqual(sizes.corrected(other, sent: nil).size, 3, "another file")
    }

    func testTheClosedSizeExpiresAfterTheRetention() async throws {
        let sizes = LLiteClosedSizes(lifetime: 0.02, margin: 0.02)
        sizes.closing(fid, size: 4096, blocks: 8)
        sizes.answered(fid)
        XCTAssertEqual(sizes.corrected(fromMDS(size: 0), sent: nil).size, 4096)
        try await Task.sleep(for: .milliseconds(80))
        XCTAssertEqual(sizes.corrected(fromMDS(size: 0), sent: nil).size, 0, "no answer that old can still come")
    }

    func testItStaysBoundedAndKeepsClosesOnTheirWay() {
        let sizes = LLiteClosedSizes(lifetime: 60)
        let pending = LustreFID(sequence: 0x2_0000_0500, objectID: 1)
        sizes.closing(pending, size: 1, blocks: 0)
        for id in 0..<UInt32(LLiteClosedSizes.limit * 2) {
            let fid = LustreFID(sequence: 0x2_0000_0600, objectID: id)
            sizes.closing(fid, size: 2, blocks: 0)
            sizes.answered(fid)
        }
        XCTAssertLessThanOrEqual(sizes.count, LLiteClosedSizes.limit)
        var attributes = fromMDS(size: 0)
        attributes.fid = pending
        XCTAssertEqual(sizes.corrected(attributes, sent: nil).size, 1, "a close still on its way is never dropped")
        attributes.fid = LustreFID(sequence: 0x2_0000_0600, objectID: UInt32(LLiteClosedSizes.limit * 2 - 1))
        XCTAssertEqual(sizes.corrected(attributes, sent: nil).size, 2, "the newest stay")
    }
}
