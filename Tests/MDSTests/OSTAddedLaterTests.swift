import LNet
import LibCFS
import MDC
import ObdClass
import Synchronization
import XCTest

/// An OST whose OSS starts after the MDS: it registers at the MGS, the MDS's object allocator
/// starts using it, and a mounted client watching the configuration learns of it.
final class OSTAddedLaterTests: XCTestCase {
    func testOSTRegisteredLaterIsUsedByTheMDSAndSeenByAWatchingClient() async throws {
        let fixture = try await makeMDS(osts: 1)
        let mgc = try await fixture.mgc(client: 1)
        let before = try await mgc.fetch(fsname: "testfs")
        XCTAssertEqual(before.osts.map(\.name.description), ["testfs-OST0000"])
        XCTAssertEqual(before.mdts.map(\.name.description), ["testfs-MDT0000"])
        let seen = Mutex<FilesystemConfiguration?>(nil)
        let arrived = expectation(description: "configuration with OST0001")
        let watch = mgc.watch(fsname: "testfs", knownGeneration: before.generation) { configuration in
            if seen.withLock({ state in
                let first = state == nil
                state = configuration
                return first
            }) { arrived.fulfill() }
        }
        defer { watch.cancel() }

        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (_, narrow) = try await mdc.create(parent: root, name: "one-ost", kind: .file, mode: 0o644, credentials: .root,
                                               layout: LustreLayout(stripeSize: 1 << 20, stripeCount: LustreLayout.stripeCountAll),
                                               exclusive: true)
        XCTAssertEqual(narrow?.objects.map(\.ostIndex), [0], "with one OST, 'all' stripes is one")

        try await fixture.startOSS(1)
        await fulfillment(of: [arrived], timeout: 10)
        XCTAssertEqual(seen.withLock { $0 }?.osts.map(\.name.description), ["testfs-OST0000", "testfs-OST0001"])
        XCTAssertEqual(seen.withLock { $0 }?.osts.last?.nids, ["\(MDSTestNet.ossNIDs[1])"])

        try await fixture.waitForOSTs(2)
        let (_, wide) = try await mdc.create(parent: root, name: "two-osts", kind: .file, mode: 0o644, credentials: .root,
                                             layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2), exclusive: true)
        XCTAssertEqual(Set(wide?.objects.map(\.ostIndex) ?? []), [0, 1])
    }
}
