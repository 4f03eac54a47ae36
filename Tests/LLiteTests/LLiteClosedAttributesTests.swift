import LibCFS
import ObdClass
import XCTest

@testable import LLite

/// What the MDS said of a file before it heard this client's close never shows an older size or
/// mtime than that close told it; what it said after does; a setattr of the times waits for a
/// close on its way.
final class LLiteClosedAttributesTests: XCTestCase {
    private let fid = LustreFID(sequence: 0x2_0000_0400, objectID: 7)
    private let written = MDTTime(seconds: 1_800_000_000, nanoseconds: 5)

    private func fromMDS(size: UInt64) -> MDTAttributes {
        var attributes = MDTAttributes()
        attributes.fid = fid
        attributes.mode = 0o100644
        attributes.size = size
        attributes.mtime = MDTTime(seconds: 1_700_000_000)
        attributes.ctime = MDTTime(seconds: 1_700_000_000)
        return attributes
    }

    func testOlderAnswersTakeTheClosedAttributes() {
        let closes = LLiteClosedAttributes(lifetime: 1)
        let before = MonotonicClock.nanoseconds()
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: before).size, 0, "nothing closed yet")
        closes.begin(fid)
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: before).size, 0, "nothing known to tell yet")
        closes.closing(fid, .init(size: 85515, blocks: 168, mtime: written))
        let meanwhile = MonotonicClock.nanoseconds()
        var seen = closes.corrected(fromMDS(size: 0), sent: meanwhile)
        XCTAssertEqual(seen.size, 85515, "a getattr while the close is on its way")
        XCTAssertEqual(seen.blocks, 168)
        XCTAssertEqual(seen.mtime, written)
        XCTAssertEqual(seen.ctime, written)
        closes.answered(fid)
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: before).size, 85515, "sent before the close")
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).size, 85515, "a statahead result of unknown age")
        let after = MonotonicClock.nanoseconds()
        seen = closes.corrected(fromMDS(size: 10), sent: after)
        XCTAssertEqual(seen.size, 10, "sent after the MDS heard the close: its answer stands (another client truncated)")
        XCTAssertEqual(seen.mtime, MDTTime(seconds: 1_700_000_000))
        var other = fromMDS(size: 3)
        other.fid = LustreFID(sequence: 0x2_0000_0400, objectID: 8)
        XCTAssertEqual(closes.corrected(other, sent: nil).size, 3, "another file")
        closes.closing(fid, .init(size: 1, blocks: 0, mtime: nil))
        closes.answered(fid)
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).mtime, MDTTime(seconds: 1_700_000_000),
                       "a close after a utime tells no mtime: the MDS's stands")
    }

    func testASetattrAfterTheCloseReplacesWhatTheCloseTold() {
        let closes = LLiteClosedAttributes(lifetime: 1)
        closes.closing(fid, .init(size: 100, blocks: 8, mtime: written))
        var set = fromMDS(size: 100)
        set.mtime = MDTTime(seconds: 1_500_000_000)
        closes.changed(set)    // before the close's answer: the close still decides
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).mtime, written)
        closes.answered(fid)
        closes.changed(set)
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).mtime, set.mtime,
                       "a statahead result older than the utime shows the time it set, not the close's")
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).size, 100)
    }

    func testTheClosedAttributesExpireAfterTheRetention() async throws {
        let closes = LLiteClosedAttributes(lifetime: 0.02, margin: 0.02)
        closes.closing(fid, .init(size: 4096, blocks: 8, mtime: written))
        closes.answered(fid)
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).size, 4096)
        try await Task.sleep(for: .milliseconds(80))
        XCTAssertEqual(closes.corrected(fromMDS(size: 0), sent: nil).size, 0, "no answer that old can still come")
    }

    func testASetattrWaitsForTheCloseOnItsWay() async throws {
        let closes = LLiteClosedAttributes(lifetime: 1)
        await closes.waitForClose(fid)    // none on its way: returns at once
        closes.begin(fid)
        let fid = self.fid
        let waited = Task { await closes.waitForClose(fid); return MonotonicClock.nanoseconds() }
        try await Task.sleep(for: .milliseconds(50))
        let answered = MonotonicClock.nanoseconds()
        closes.answered(fid)
        let resumed = await waited.value
        XCTAssertGreaterThanOrEqual(resumed, answered, "the wait ended before the close was answered")
        XCTAssertEqual(closes.count, 0, "a close that had nothing to tell leaves nothing behind")
    }

    func testItStaysBoundedAndKeepsClosesOnTheirWay() {
        let closes = LLiteClosedAttributes(lifetime: 60)
        let pending = LustreFID(sequence: 0x2_0000_0500, objectID: 1)
        closes.closing(pending, .init(size: 1, blocks: 0, mtime: nil))
        for id in 0..<UInt32(LLiteClosedAttributes.limit * 2) {
            let fid = LustreFID(sequence: 0x2_0000_0600, objectID: id)
            closes.closing(fid, .init(size: 2, blocks: 0, mtime: nil))
            closes.answered(fid)
        }
        XCTAssertLessThanOrEqual(closes.count, LLiteClosedAttributes.limit)
        var attributes = fromMDS(size: 0)
        attributes.fid = pending
        XCTAssertEqual(closes.corrected(attributes, sent: nil).size, 1, "a close still on its way is never dropped")
        attributes.fid = LustreFID(sequence: 0x2_0000_0600, objectID: UInt32(LLiteClosedAttributes.limit * 2 - 1))
        XCTAssertEqual(closes.corrected(attributes, sent: nil).size, 2, "the newest stay")
    }
}
