import LibCFS
import ObdClass
import XCTest

@testable import LLite

/// The names a client knows a directory has: a name absent from them is answered ENOENT only
/// while they are known whole (made here, or listed from the first page to the last), only for
/// their lifetime and the credentials that learned them, kept current by this client's changes.
final class LLiteDirectoryNamesTests: XCTestCase {
    private let dir = LustreFID(sequence: 0x2_0000_0400, objectID: 1)
    private let other = LustreFID(sequence: 0x2_0000_0400, objectID: 2)
    private let alice = MDTCredentials(uid: 1000, gid: 1000)
    private var now: UInt64 { MonotonicClock.nanoseconds() }

    func testADirectoryMadeHereIsEmptyThenFollowsThisClientsChanges() {
        let names = LLiteDirectoryNames(lifetime: 60)
        XCTAssertFalse(names.isAbsent(parent: dir, name: "a", credentials: .root), "nothing known yet")
        names.made(dir, credentials: .root, sent: now)
        XCTAssertTrue(names.isAbsent(parent: dir, name: "a", credentials: .root))
        names.added("a", to: dir)
        XCTAssertFalse(names.isAbsent(parent: dir, name: "a", credentials: .root))
        XCTAssertTrue(names.isAbsent(parent: dir, name: "b", credentials: .root))
        names.removed("a", from: dir)
        XCTAssertTrue(names.isAbsent(parent: dir, name: "a", credentials: .root))
        XCTAssertFalse(names.isAbsent(parent: dir, name: "a", credentials: alice), "learned by root only")
        XCTAssertFalse(names.isAbsent(parent: other, name: "a", credentials: .root))
        names.forget(dir)
        XCTAssertFalse(names.isAbsent(parent: dir, name: "b", credentials: .root), "forgotten")
    }

    func testNamesOutliveTheirLifetimeAndAreListedAgainOnce() async throws {
        let names = LLiteDirectoryNames(lifetime: 0.05)
        names.made(dir, credentials: .root, sent: now)
        names.added("a", to: dir)
        XCTAssertFalse(names.wantsRefresh(parent: dir, credentials: .root), "still fresh")
        names.made(other, credentials: .root, sent: now)
        for n in 0..<LLiteDirectoryNames.answersPerRefreshPage {
            XCTAssertTrue(names.isAbsent(parent: dir, name: "new\(n)", credentials: .root))
        }
        XCTAssertTrue(names.isAbsent(parent: other, name: "x", credentials: .root))
        try await Task.sleep(for: .milliseconds(80))
        XCTAssertFalse(names.wantsRefresh(parent: other, credentials: .root), "answered too few lookups to list again")
        XCTAssertFalse(names.isAbsent(parent: dir, name: "b", credentials: .root), "expired")
        XCTAssertFalse(names.wantsRefresh(parent: dir, credentials: alice))
        XCTAssertTrue(names.wantsRefresh(parent: dir, credentials: .root))
        XCTAssertFalse(names.wantsRefresh(parent: dir, credentials: .root), "a refresh is on its way")
        names.refreshFailed(parent: dir)
        XCTAssertTrue(names.wantsRefresh(parent: dir, credentials: .root), "after a failed one, again")
        XCTAssertFalse(LLiteDirectoryNames(lifetime: 0).wantsRefresh(parent: dir, credentials: .root))
    }

    func testAWholeListingMakesNamesKnownWithChangesMadeMeanwhile() {
        let names = LLiteDirectoryNames(lifetime: 60)
        names.beginListing(parent: dir, credentials: .root, sent: now)
        names.listed(parent: dir, cookie: 0, names: [".", "..", "a", "b"], next: 4, end: false, credentials: .root)
        XCTAssertFalse(names.isAbsent(parent: dir, name: "z", credentials: .root), "listing not whole yet")
        // This client's own changes while the listing goes on: the later pages may predate them.
        names.added("x", to: dir)
        names.removed("a", from: dir)
        names.listed(parent: dir, cookie: 4, names: ["c"], next: 5, end: true, credentials: .root)
        XCTAssertEqual(names.names(of: dir), ["b", "c", "x"])
        XCTAssertTrue(names.isAbsent(parent: dir, name: "a", credentials: .root))
        XCTAssertTrue(names.isAbsent(parent: dir, name: ".x", credentials: .root))
        XCTAssertFalse(names.isAbsent(parent: dir, name: "x", credentials: .root))
    }

    func testAChangeWhoseReplyBeatsTheFirstPageIsKept() {
        // The MDS made "x" after it produced the first page, and the create's reply came back
        // before the page's: the listing lacks "x", the change must not be lost.
        let names = LLiteDirectoryNames(lifetime: 60)
        names.beginListing(parent: dir, credentials: .root, sent: now)
        names.added("x", to: dir)
        names.listed(parent: dir, cookie: 0, names: ["a"], next: 1, end: true, credentials: .root)
        XCTAssertEqual(names.names(of: dir), ["a", "x"])
        XCTAssertFalse(names.isAbsent(parent: dir, name: "x", credentials: .root))
    }

    func testAListingWithAPageMissingOrAnotherUsersTeachesNothing() {
        let names = LLiteDirectoryNames(lifetime: 60)
        names.beginListing(parent: dir, credentials: .root, sent: now)
        names.listed(parent: dir, cookie: 0, names: ["a"], next: 1, end: false, credentials: .root)
        names.listed(parent: dir, cookie: 7, names: ["q"], next: 8, end: true, credentials: .root)
        XCTAssertNil(names.names(of: dir), "a page was skipped")
        names.beginListing(parent: dir, credentials: .root, sent: now)
        names.listed(parent: dir, cookie: 0, names: ["a"], next: 1, end: false, credentials: .root)
        names.listed(parent: dir, cookie: 1, names: ["b"], next: 2, end: true, credentials: alice)
        XCTAssertNil(names.names(of: dir), "the pages came for two users")
        names.beginListing(parent: other, credentials: alice, sent: now)
        names.listed(parent: other, cookie: 0, names: [], next: 0, end: true, credentials: alice)
        XCTAssertTrue(names.isAbsent(parent: other, name: "a", credentials: alice), "an empty directory, listed")
        // Names learned from a request sent long ago are already stale.
        let old = LLiteDirectoryNames(lifetime: 0.01)
        old.beginListing(parent: dir, credentials: .root, sent: now - 20_000_000)
        old.listed(parent: dir, cookie: 0, names: [], next: 0, end: true, credentials: .root)
        XCTAssertFalse(old.isAbsent(parent: dir, name: "a", credentials: .root))
    }

    func testFewDirectoriesAreFollowed() {
        let names = LLiteDirectoryNames(lifetime: 60)
        for id in 0..<UInt32(LLiteDirectoryNames.directoryLimit + 5) {
            names.made(LustreFID(sequence: 0x2_0000_0500, objectID: id), credentials: .root, sent: now)
        }
        XCTAssertNil(names.names(of: LustreFID(sequence: 0x2_0000_0500, objectID: 0)), "the first learned went")
        XCTAssertEqual(names.names(of: LustreFID(sequence: 0x2_0000_0500, objectID: UInt32(LLiteDirectoryNames.directoryLimit + 4))), [])
    }
}
