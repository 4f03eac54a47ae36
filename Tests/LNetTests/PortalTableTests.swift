import LibCFS
import NIOCore
import XCTest

@testable import LNet

final class PortalTableTests: XCTestCase {
    let alice = ProcessID(nid: NID(address: 0x7f00_0002))
    let bob = ProcessID(nid: NID(address: 0x7f00_0003))

    /// A source MD labelled by its buffer, so a match can be told apart.
    private func md(_ label: String, threshold: Int? = 1, peer: ProcessID? = nil) -> MemoryDescriptor {
        .source(ByteBuffer(string: label), threshold: threshold, peer: peer)
    }

    private func label(_ md: MemoryDescriptor?) -> String? {
        guard let md, case .source(let parts, _) = md.kind, parts.count == 1 else { return nil }
        return String(buffer: parts[0])
    }

    func testExactMatchNeedsPortalAndMatchBits() {
        var table = PortalTable()
        _ = table.attach(portal: 5, matchBits: 42, ignoreBits: 0, md: md("a", threshold: nil))
        XCTAssertNil(table.match(portal: 5, matchBits: 43, from: alice))
        XCTAssertNil(table.match(portal: 6, matchBits: 42, from: alice))
        XCTAssertEqual(label(table.match(portal: 5, matchBits: 42, from: alice)), "a")
    }

    func testWildcardMatchesOutsideIgnoreBits() {
        var table = PortalTable()
        _ = table.attach(portal: 1, matchBits: 0x1200, ignoreBits: 0xff, md: md("w", threshold: nil))
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 0x12ab, from: alice)), "w")
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 0x1200, from: alice)), "w")
        XCTAssertNil(table.match(portal: 1, matchBits: 0x1300, from: alice))
        XCTAssertNil(table.match(portal: 2, matchBits: 0x12ab, from: alice))
    }

    func testWildcardIgnoringAllBitsMatchesEverything() {
        var table = PortalTable()
        _ = table.attach(portal: 28, matchBits: 0, ignoreBits: .max, md: md("any", threshold: nil))
        for bits: UInt64 in [0, 1, 0xdead_beef, .max] {
            XCTAssertEqual(label(table.match(portal: 28, matchBits: bits, from: bob)), "any")
        }
    }

    func testExactEntryWinsOverWildcard() {
        var table = PortalTable()
        _ = table.attach(portal: 1, matchBits: 0, ignoreBits: .max, md: md("wild", threshold: nil))
        _ = table.attach(portal: 1, matchBits: 7, ignoreBits: 0, md: md("exact", threshold: nil))
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 7, from: alice)), "exact")
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 8, from: alice)), "wild")
    }

    func testWildcardsAreTriedInAttachOrder() {
        var table = PortalTable()
        _ = table.attach(portal: 1, matchBits: 0x100, ignoreBits: 0xff, md: md("first", threshold: nil))
        _ = table.attach(portal: 1, matchBits: 0, ignoreBits: .max, md: md("second", threshold: nil))
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 0x101, from: alice)), "first")
        XCTAssertEqual(label(table.match(portal: 1, matchBits: 0x201, from: alice)), "second")
    }

    func testThresholdIsConsumedThenDescriptorUnlinksItself() {
        var table = PortalTable()
        let handle = table.attach(portal: 3, matchBits: 9, ignoreBits: 0, md: md("t", threshold: 2))
        XCTAssertEqual(label(table.match(portal: 3, matchBits: 9, from: alice)), "t")
        XCTAssertEqual(label(table.match(portal: 3, matchBits: 9, from: alice)), "t")
        XCTAssertNil(table.match(portal: 3, matchBits: 9, from: alice), "a third use past threshold 2")
        XCTAssertFalse(table.unlink(handle), "used-up descriptor must already be unlinked")
    }

    func testWildcardThresholdIsConsumedThenDescriptorUnlinksItself() {
        var table = PortalTable()
        let handle = table.attach(portal: 3, matchBits: 0, ignoreBits: .max, md: md("w", threshold: 1))
        XCTAssertEqual(label(table.match(portal: 3, matchBits: 1, from: alice)), "w")
        XCTAssertNil(table.match(portal: 3, matchBits: 2, from: alice))
        XCTAssertFalse(table.unlink(handle))
    }

    func testUsedUpDescriptorUncoversTheNextOneWithSameBits() {
        var table = PortalTable()
        _ = table.attach(portal: 3, matchBits: 9, ignoreBits: 0, md: md("one"))
        _ = table.attach(portal: 3, matchBits: 9, ignoreBits: 0, md: md("two"))
        XCTAssertEqual(label(table.match(portal: 3, matchBits: 9, from: alice)), "one")
        XCTAssertEqual(label(table.match(portal: 3, matchBits: 9, from: alice)), "two")
        XCTAssertNil(table.match(portal: 3, matchBits: 9, from: alice))
    }

    func testUnlimitedThresholdNeverUnlinks() {
        var table = PortalTable()
        let handle = table.attach(portal: 3, matchBits: 9, ignoreBits: 0, md: md("u", threshold: nil))
        for _ in 0..<100 { XCTAssertNotNil(table.match(portal: 3, matchBits: 9, from: alice)) }
        XCTAssertTrue(table.unlink(handle))
    }

    func testPeerFilterAcceptsOnlyThatPeer() {
        var table = PortalTable()
        _ = table.attach(portal: 4, matchBits: 1, ignoreBits: 0, md: md("for-bob", threshold: nil, peer: bob))
        XCTAssertNil(table.match(portal: 4, matchBits: 1, from: alice))
        XCTAssertNil(table.match(portal: 4, matchBits: 1, from: ProcessID(nid: bob.nid, pid: 1)), "pid is part of the peer")
        XCTAssertEqual(label(table.match(portal: 4, matchBits: 1, from: bob)), "for-bob")
    }

    func testPeerFilterSkipsToAnEntryForAnyone() {
        var table = PortalTable()
        _ = table.attach(portal: 4, matchBits: 1, ignoreBits: 0, md: md("for-bob", peer: bob))
        _ = table.attach(portal: 4, matchBits: 1, ignoreBits: 0, md: md("anyone"))
        XCTAssertEqual(label(table.match(portal: 4, matchBits: 1, from: alice)), "anyone")
        XCTAssertEqual(label(table.match(portal: 4, matchBits: 1, from: bob)), "for-bob")
    }

    func testWildcardPeerFilter() {
        var table = PortalTable()
        _ = table.attach(portal: 4, matchBits: 0, ignoreBits: .max, md: md("for-bob", threshold: nil, peer: bob))
        XCTAssertNil(table.match(portal: 4, matchBits: 77, from: alice))
        XCTAssertEqual(label(table.match(portal: 4, matchBits: 77, from: bob)), "for-bob")
    }

    func testUnlinkRemovesExactEntryOnce() {
        var table = PortalTable()
        let handle = table.attach(portal: 2, matchBits: 5, ignoreBits: 0, md: md("x", threshold: nil))
        XCTAssertTrue(table.unlink(handle))
        XCTAssertNil(table.match(portal: 2, matchBits: 5, from: alice))
        XCTAssertFalse(table.unlink(handle), "second unlink")
    }

    func testUnlinkRemovesWildcardEntryOnce() {
        var table = PortalTable()
        let handle = table.attach(portal: 2, matchBits: 0x50, ignoreBits: 0xf, md: md("x", threshold: nil))
        XCTAssertTrue(table.unlink(handle))
        XCTAssertNil(table.match(portal: 2, matchBits: 0x51, from: alice))
        XCTAssertFalse(table.unlink(handle))
    }

    func testUnlinkLeavesOtherEntriesWithSameBits() {
        var table = PortalTable()
        let first = table.attach(portal: 2, matchBits: 5, ignoreBits: 0, md: md("first", threshold: nil))
        _ = table.attach(portal: 2, matchBits: 5, ignoreBits: 0, md: md("second", threshold: nil))
        XCTAssertTrue(table.unlink(first))
        XCTAssertEqual(label(table.match(portal: 2, matchBits: 5, from: alice)), "second")
    }
}
