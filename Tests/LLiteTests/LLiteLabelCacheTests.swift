import LibCFS
import ObdClass
import XCTest

@testable import LLite

/// The absent SELinux labels a client may answer itself: only what fresh attributes said,
/// only for their lifetime, and never after this client changes the label.
final class LLiteLabelCacheTests: XCTestCase {
    private func attributes(_ id: UInt32, unlabelled: Bool) -> MDTAttributes {
        var attributes = MDTAttributes()
        attributes.fid = LustreFID(sequence: 0x2_0000_0400, objectID: id)
        if unlabelled { attributes.hints.insert(.noSELinuxLabel) }
        return attributes
    }

    func testOnlyFreshAttributesWithoutALabelAnswer() async throws {
        let cache = LLiteLabelCache(lifetime: 0.05)
        let bare = attributes(1, unlabelled: true)
        let labelled = attributes(2, unlabelled: false)
        cache.note(bare)
        cache.note(labelled)
        XCTAssertTrue(cache.isUnlabelled(bare.fid))
        XCTAssertFalse(cache.isUnlabelled(labelled.fid))
        XCTAssertFalse(cache.isUnlabelled(attributes(3, unlabelled: true).fid), "never reported")
        cache.note(attributes(1, unlabelled: false))
        XCTAssertFalse(cache.isUnlabelled(bare.fid), "a later report of a label wins")
        cache.note(bare)
        cache.forget(bare.fid)
        XCTAssertFalse(cache.isUnlabelled(bare.fid), "this client changed it")
        cache.note(bare)
        try await Task.sleep(for: .milliseconds(80))
        XCTAssertFalse(cache.isUnlabelled(bare.fid), "expired")
    }

    func testItStaysBoundedAndOffMeansNever() {
        let cache = LLiteLabelCache(lifetime: 60)
        for id in 0..<UInt32(LLiteLabelCache.capacity + 10) { cache.note(attributes(id, unlabelled: true)) }
        XCTAssertTrue(cache.isUnlabelled(attributes(UInt32(LLiteLabelCache.capacity + 9), unlabelled: true).fid))
        let off = LLiteLabelCache(lifetime: 0)
        off.note(attributes(1, unlabelled: true))
        XCTAssertFalse(off.isUnlabelled(attributes(1, unlabelled: true).fid))
    }
}
