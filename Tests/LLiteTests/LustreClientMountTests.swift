import LLite
import LNet
import LustreTestSupport
import LibCFS
import NIOCore
import ObdClass
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Mounting, the namespace through the client, layouts, parameters.
final class LustreClientMountTests: XCTestCase {
    func testAnUnknownFilesystemIsENOENT() async throws {
        let fs = try await makeFilesystem()
        var options = fs.options()
        options.mountTimeout = 10
        await assertErrno(ENOENT) {
            try await LustreClient.mount(mgs: [LustreFixture.mdsNID], fsname: "nosuchfs", options: options)
        }
    }

    func testAnUnreachableMGSFailsInsteadOfHanging() async throws {
        var options = LustreClient.Options()
        options.acceptPort = Int.random(in: 20000...40000)
        options.localNID = LustreFixture.clientNIDs[3]
        options.mountTimeout = 3
        do throws(LustreError) {
            _ = try await LustreClient.mount(mgs: [NID(address: 0x7f00_08fe)], fsname: "testfs", options: options)
            XCTFail("mount from an MGS nobody serves succeeded")
        } catch {
            XCTAssertNotEqual(error.errno, 0)
        }
    }

    func testNamespaceOperationsThroughTheClient() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let root = client.rootFID
        let directory = try await client.mkdir(parent: root, name: "dir", mode: 0o755, credentials: .root)
        XCTAssertTrue(directory.isDirectory)
        let file = try await client.create(parent: directory.fid, name: "a", mode: 0o644, credentials: .root)
        try await file.write(offset: 0, data: ByteBuffer(bytes: Array("hello".utf8)))
        try await file.close()
        let linked = try await client.link(file.fid, parent: root, name: "b", credentials: .root)
        XCTAssertEqual(linked.nlink, 2)
        let symlink = try await client.symlink(parent: root, name: "s", target: "dir/a", credentials: .root)
        XCTAssertTrue(symlink.isSymlink)
        let linkTarget = try await client.readlink(symlink.fid, credentials: .root)
        XCTAssertEqual(linkTarget, "dir/a")
        try await client.rename(from: directory.fid, name: "a", to: root, newName: "c", credentials: .root)
        await assertErrno(ENOENT) { try await client.lookup(parent: directory.fid, name: "a", credentials: .root) }
        let renamed = try await client.lookup(parent: root, name: "c", credentials: .root)
        XCTAssertEqual(renamed.fid, file.fid)
        XCTAssertEqual(renamed.size, 5)

        var names: [String] = []
        var cookie: UInt64 = 0
        while true {
            let page = try await client.readdir(root, cookie: cookie, maxEntries: 2, credentials: .root)
            names += page.entries.map(\.name)
            if page.end || page.entries.isEmpty { break }
            cookie = page.entries.last!.cookie
        }
        XCTAssertEqual(Set(names.filter { $0 != "." && $0 != ".." }), ["dir", "b", "s", "c"])

        try await client.setxattr(file.fid, name: "user.color", value: Array("blue".utf8), flags: 0, credentials: .root)
        let color = try await client.getxattr(file.fid, name: "user.color", credentials: .root)
        XCTAssertEqual(color, Array("blue".utf8))
        let listed = try await client.listxattr(file.fid, credentials: .root).contains("user.color")
        XCTAssertTrue(listed)
        try await client.removexattr(file.fid, name: "user.color", credentials: .root)
        await assertErrno(ENODATA) { try await client.getxattr(file.fid, name: "user.color", credentials: .root) }

        try await client.unlink(parent: root, name: "b", credentials: .root)
        try await client.unlink(parent: root, name: "c", credentials: .root)
        try await client.rmdir(parent: root, name: "dir", credentials: .root)
        await assertErrno(ENOENT) { try await client.lookup(parent: root, name: "dir", credentials: .root) }
        let path = try await client.fid2path(symlink.fid)
        XCTAssertEqual(path, "s")
    }

    func testSetstripeAndGetstripe() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let attributes = try await client.setstripe(parent: client.rootFID, name: "striped",
                                                    layout: LustreLayout(stripeSize: 128 << 10, stripeCount: 2),
                                                    credentials: .root)
        let layout = try await client.getstripe(attributes.fid)
        XCTAssertEqual(layout?.stripeSize, 128 << 10)
        XCTAssertEqual(layout?.objects.count, 2)
        XCTAssertEqual(Set(layout?.objects.map(\.ostIndex) ?? []), [0, 1])

        let directory = try await client.mkdir(parent: client.rootFID, name: "wide", mode: 0o755, credentials: .root)
        try await client.setDirectoryStripe(directory.fid, layout: LustreLayout(stripeSize: 256 << 10, stripeCount: 2),
                                            credentials: .root)
        let inherited = try await client.create(parent: directory.fid, name: "f", mode: 0o644, credentials: .root)
        XCTAssertEqual(inherited.layout?.stripeSize, 256 << 10)
        XCTAssertEqual(inherited.layout?.objects.count, 2)
        try await inherited.close()
        await assertErrno(EINVAL) {
            try await client.setstripe(parent: client.rootFID, name: "bad", layout: LustreLayout(stripeSize: 1000, stripeCount: 1),
                                       credentials: .root)
        }
    }

    func testAnOSTAddedWhileMountedGetsAnOSC() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        XCTAssertEqual(client.lov.allTargets.map(\.index), [0, 1])
        try await fs.addOST(index: 2)
        for _ in 0..<300 where !client.lov.contains(2) { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertEqual(client.lov.allTargets.map(\.index), [0, 1, 2])
        let targets = await client.targetStatfs()
        XCTAssertEqual(targets.last?.name.description, "lltest-OST0002")
        XCTAssertNotNil(targets.last?.statfs)
    }

    func testStatfsAndParameters() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let targets = await client.targetStatfs()
        XCTAssertEqual(targets.map(\.name.description), ["lltest-MDT0000", "lltest-OST0000", "lltest-OST0001"])
        XCTAssertTrue(targets.allSatisfy { $0.statfs != nil })
        let statfs = try await client.statfs()
        XCTAssertGreaterThan(statfs.blocks, 0)

        let prefix = "llite.\(client.name)."
        XCTAssertEqual(try ParamTree.shared.get(prefix + "max_read_ahead_mb").first?.value, "64")
        _ = try ParamTree.shared.set(prefix + "max_read_ahead_mb", value: "16")
        XCTAssertEqual(client.maxReadAheadMB.value, 16)
        let dirty = try ParamTree.shared.get("osc.lltest-OST0000-osc-\(client.instance).max_dirty_mb")
        XCTAssertEqual(dirty.first?.value, "32")

        let file = try await client.create(parent: client.rootFID, name: "counted", mode: 0o644, credentials: .root)
        try await file.write(offset: 0, data: ByteBuffer(bytes: [UInt8](repeating: 1, count: 5000)))
        _ = try await file.read(offset: 0, length: 5000)
        try await file.close()
        let stats = try XCTUnwrap(ParamTree.shared.get(prefix + "stats").first?.value)
        XCTAssertTrue(stats.contains("write_bytes               1 samples [bytes] 5000 5000 5000"), stats)
        XCTAssertTrue(stats.contains("read_bytes                1 samples [bytes] 5000 5000 5000"), stats)
        XCTAssertTrue(stats.contains("create "), stats)
        XCTAssertTrue(stats.contains("close "), stats)

        try await client.unmount()
        XCTAssertThrowsError(try ParamTree.shared.get(prefix + "stats"))
    }
}
