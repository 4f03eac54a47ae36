import LNet
import LibCFS
import LustreTestSupport
import MDC
import MDT
import NIOCore
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The MDC through the MDT service to a real MDTDevice whose LOD allocates on two real OSTs.
final class MDTServiceTests: XCTestCase {
    static let user = MDTCredentials(uid: 1000, gid: 1000)

    func testNamespaceOperationsRoundTrip() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        XCTAssertTrue(mdc.name.hasPrefix("testfs-MDT0000-mdc-"), mdc.name)
        let root = try await mdc.getRoot()
        XCTAssertEqual(root, fixture.mdt?.rootFID)
        let rootAttributes = try await mdc.getattr(root, credentials: .root)
        XCTAssertTrue(rootAttributes.isDirectory)

        let (dir, _) = try await mdc.create(parent: root, name: "dir", kind: .directory, mode: 0o777,
                                            credentials: .root, layout: nil, exclusive: true)
        XCTAssertTrue(dir.isDirectory)
        let (file, layout) = try await mdc.create(parent: dir.fid, name: "file", kind: .file, mode: 0o644,
                                                  credentials: Self.user,
                                                  layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2), exclusive: true)
        XCTAssertTrue(file.isRegular)
        XCTAssertEqual(file.uid, 1000)
        let objects = try XCTUnwrap(layout).objects
        XCTAssertEqual(Set(objects.map(\.ostIndex)), [0, 1], "a 2-stripe file has an object on each OST")
        for object in objects { XCTAssertTrue(fixture.objectExists(object), "\(object) exists on its OST") }

        let (found, foundLayout) = try await mdc.lookup(parent: dir.fid, name: "file", credentials: Self.user)
        XCTAssertEqual(found.fid, file.fid)
        XCTAssertEqual(foundLayout?.objects, objects)
        await assertErrno(ENOENT) { try await mdc.lookup(parent: dir.fid, name: "nothing", credentials: Self.user) }
        await assertErrno(EEXIST) {
            try await mdc.create(parent: dir.fid, name: "file", kind: .file, mode: 0o644, credentials: Self.user,
                                 layout: nil, exclusive: true)
        }
        let (again, _) = try await mdc.create(parent: dir.fid, name: "file", kind: .file, mode: 0o644,
                                              credentials: Self.user, layout: nil, exclusive: false)
        XCTAssertEqual(again.fid, file.fid, "O_CREAT without O_EXCL answers the existing file")

        let changed = try await mdc.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o600), credentials: Self.user)
        XCTAssertEqual(changed.mode & 0o7777, 0o600)
        let value1 = try await mdc.getattr(file.fid, credentials: Self.user)
        XCTAssertEqual(value1.mode & 0o7777, 0o600)

        let (link, _) = try await mdc.create(parent: dir.fid, name: "link", kind: .symlink(target: "file"), mode: 0o777,
                                             credentials: Self.user, layout: nil, exclusive: true)
        XCTAssertTrue(link.isSymlink)
        let value2 = try await mdc.readlink(link.fid, credentials: Self.user)
        XCTAssertEqual(value2, "file")

        await assertErrno(EACCES) { try await mdc.link(file.fid, parent: root, name: "hard", credentials: Self.user) }
        let linked = try await mdc.link(file.fid, parent: root, name: "hard", credentials: .root)
        XCTAssertEqual(linked.nlink, 2)
        try await mdc.rename(from: root, name: "hard", to: dir.fid, newName: "moved", credentials: .root)
        let value3 = try await mdc.lookup(parent: dir.fid, name: "moved", credentials: Self.user)
        XCTAssertEqual(value3.0.fid, file.fid)
        await assertErrno(ENOENT) { try await mdc.lookup(parent: root, name: "hard", credentials: Self.user) }
        let value4 = try await mdc.fid2path(link.fid)
        XCTAssertEqual(value4, "dir/link")

        try await mdc.unlink(parent: dir.fid, name: "moved", credentials: Self.user)
        try await mdc.unlink(parent: dir.fid, name: "link", credentials: Self.user)
        await assertErrno(ENOTEMPTY) { try await mdc.rmdir(parent: root, name: "dir", credentials: .root) }
        try await mdc.unlink(parent: dir.fid, name: "file", credentials: Self.user)
        try await mdc.rmdir(parent: root, name: "dir", credentials: .root)
        await assertErrno(ESTALE) { try await mdc.getattr(dir.fid, credentials: .root) }
        await mdc.disconnect()
    }

    func testReaddirPagesResumeFromCookies() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "many", kind: .directory, mode: 0o755,
                                            credentials: .root, layout: nil, exclusive: true)
        let names = (0..<23).map { "entry\($0)" }
        for name in names {
            _ = try await mdc.create(parent: dir.fid, name: name, kind: .node(rdev: 0), mode: 0o010644,
                                     credentials: .root, layout: nil, exclusive: true)
        }
        var seen: [String] = []
        var cookie: UInt64 = 0
        var pages = 0
        while true {
            let page = try await mdc.readdir(dir.fid, cookie: cookie, maxEntries: 5, credentials: .root)
            XCTAssertLessThanOrEqual(page.entries.count, 5)
            seen += page.entries.map(\.name)
            pages += 1
            if page.end || page.entries.isEmpty { break }
            cookie = try XCTUnwrap(page.entries.last).cookie
            XCTAssertLessThan(pages, 50, "readdir does not end")
            if pages >= 50 { break }
        }
        XCTAssertEqual(Set(seen.filter { $0 != "." && $0 != ".." }), Set(names))
        XCTAssertGreaterThanOrEqual(pages, 5)
    }

    func testOpenCloseXattrsLayoutsStatfsAndSync() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "striped", kind: .directory, mode: 0o777,
                                            credentials: .root, layout: nil, exclusive: true)
        try await mdc.setLayout(dir.fid, LustreLayout(stripeSize: 2 << 20, stripeCount: 2), credentials: .root)
        let (file, layout) = try await mdc.create(parent: dir.fid, name: "inherits", kind: .file, mode: 0o644,
                                                  credentials: Self.user, layout: nil, exclusive: true)
        XCTAssertEqual(layout?.stripeSize, 2 << 20, "a file inherits its directory's default layout")
        XCTAssertEqual(layout?.objects.count, 2)

        let (opened, openedLayout, handle) = try await mdc.open(file.fid, flags: O_RDWR, credentials: Self.user)
        XCTAssertEqual(opened.fid, file.fid)
        XCTAssertEqual(openedLayout?.objects, layout?.objects)
        try await mdc.close(handle: handle, size: 12345, blocks: 24)
        let value5 = try await mdc.getattr(file.fid, credentials: Self.user)
        XCTAssertEqual(value5.size, 12345, "close records the size")
        await assertErrno(EBADF) { try await mdc.close(handle: handle, size: nil, blocks: nil) }
        await assertErrno(EACCES) { try await mdc.open(file.fid, flags: O_RDWR, credentials: MDTCredentials(uid: 7, gid: 7)) }

        try await mdc.setxattr(file.fid, name: "user.colour", value: Array("blue".utf8), flags: 0, credentials: Self.user)
        let value6 = try await mdc.getxattr(file.fid, name: "user.colour", credentials: Self.user)
        XCTAssertEqual(value6, Array("blue".utf8))
        let value7 = try await mdc.listxattr(file.fid, credentials: Self.user)
        XCTAssertTrue(value7.contains("user.colour"))
        try await mdc.removexattr(file.fid, name: "user.colour", credentials: Self.user)
        await assertErrno(ENODATA) { try await mdc.getxattr(file.fid, name: "user.colour", credentials: Self.user) }
        await assertErrno(ENAMETOOLONG) {
            try await mdc.lookup(parent: root, name: String(repeating: "x", count: 256), credentials: .root)
        }

        let statfs = try await mdc.statfs()
        XCTAssertGreaterThan(statfs.blocks, 0)
        XCTAssertGreaterThan(statfs.files, 0)
        let committed = try await mdc.sync()
        XCTAssertGreaterThan(committed, 0, "sync reports the transnos committed")
        XCTAssertEqual(mdc.rpcImport.replayCount, 0, "nothing is left to replay once committed")

        let stats = try ParamTree.shared.get("mdt.testfs-MDT0000.md_stats").first?.value ?? ""
        for counter in ["open", "close", "mkdir", "mknod", "getattr", "setxattr", "getxattr", "statfs", "sync"] {
            XCTAssertTrue(stats.contains("\n\(counter) "), "md_stats counts \(counter):\n\(stats)")
        }
    }

    /// A file `mdc` holds open after `other` unlinked it (an orphan, its objects kept), and its
    /// objects.
    private func openOrphan(_ fixture: MDSFixture, _ mdc: MDCDevice, _ other: MDCDevice) async throws -> [LayoutObject] {
        let root = try await mdc.getRoot()
        let (file, layout) = try await mdc.create(parent: root, name: "orphan", kind: .file, mode: 0o666,
                                                  credentials: .root, layout: nil, exclusive: true)
        let objects = try XCTUnwrap(layout).objects
        _ = try await mdc.open(file.fid, flags: O_RDONLY, credentials: .root)
        try await other.unlink(parent: root, name: "orphan", credentials: .root)
        _ = try await other.sync()
        return objects
    }

    /// Waits up to 15 s for `objects` to be destroyed on their OSTs.
    private func waitUntilDestroyed(_ objects: [LayoutObject], _ fixture: MDSFixture) async throws {
        try await waitUntil(within: 15) { !objects.contains(where: fixture.objectExists) }
    }

    func testDisconnectClosesWhatTheClientLeftOpen() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc(client: 0)
        let objects = try await openOrphan(fixture, mdc, try await fixture.mdc(client: 2))
        try await Task.sleep(for: .milliseconds(500))
        for object in objects { XCTAssertTrue(fixture.objectExists(object), "an open unlinked file keeps its objects") }

        await mdc.disconnect()
        try await waitUntilDestroyed(objects, fixture)
        for object in objects { XCTAssertFalse(fixture.objectExists(object), "the export's close destroyed \(object)") }
    }

    /// `mdt.<target>.evict_client`, as the OSTs': the evicted client's open files are closed (an
    /// unlinked one it held open is destroyed), an unknown UUID is `ENOENT`, and the evicted client
    /// connects again as a new one at its next request.
    func testEvictClientClosesWhatTheClientLeftOpen() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc(client: 0)
        let objects = try await openOrphan(fixture, mdc, try await fixture.mdc(client: 2))
        let parameter = "mdt.\(MDSFixture.mdtName).evict_client"
        XCTAssertThrowsError(try ParamTree.shared.set(parameter, value: "nobody")) { error in
            XCTAssertEqual((error as? LustreError)?.errno, ENOENT)
        }
        try await Task.sleep(for: .milliseconds(300))
        for object in objects { XCTAssertTrue(fixture.objectExists(object), "an open unlinked file keeps its objects") }

        _ = try ParamTree.shared.set(parameter, value: mdc.rpcImport.clientUUID)
        try await waitUntilDestroyed(objects, fixture)
        for object in objects { XCTAssertFalse(fixture.objectExists(object), "the eviction closed and destroyed \(object)") }
        let again = try await mdc.getattr(try await mdc.getRoot(), credentials: .root)
        XCTAssertTrue(again.isDirectory, "the evicted client connects again and is served")
    }

    func testMalformedAndUnknownRequestsGetErrorsAndTheServiceKeepsServing() async throws {
        let fixture = try await makeMDS()
        let raw = try await fixture.rawImport()
        let unknown = try await raw.call(opcode: 4242, buffers: [])
        XCTAssertEqual(unknown.reply.status, -EOPNOTSUPP)
        let noBody = try await raw.call(opcode: MDTOpcode.getattr.rawValue, buffers: [])
        XCTAssertEqual(noBody.reply.status, -EPROTO)
        let garbage = try await raw.call(opcode: MDTOpcode.reint.rawValue, buffers: [ByteBuffer(bytes: [2, 0, 0, 0, 9, 9])])
        XCTAssertEqual(garbage.reply.status, -EPROTO)
        let badSub = try await raw.call(opcode: MDTOpcode.reint.rawValue, buffers: [ByteBuffer(bytes: [99, 0, 0, 0])])
        XCTAssertEqual(badSub.reply.status, -EOPNOTSUPP)
        var lying = ByteBuffer()
        MDTCredentials.root.encode(into: &lying)
        LustreFID(sequence: 1, objectID: 1).encode(into: &lying)
        lying.writeInteger(UInt32.max, endianness: .little)
        let lie = try await raw.call(opcode: MDTOpcode.getattrName.rawValue, buffers: [lying])
        XCTAssertEqual(lie.reply.status, -ENAMETOOLONG)
        let stale = try await raw.call(opcode: MDTOpcode.getattr.rawValue,
                                       buffers: [MDTGetattrRequest(credentials: .root,
                                                                   fid: LustreFID(sequence: 0x2_0000_9999, objectID: 5)).encoded()])
        XCTAssertLessThan(stale.reply.status, 0, "an unknown FID is an error")

        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        _ = try await mdc.create(parent: root, name: "still-serving", kind: .directory, mode: 0o755, credentials: .root,
                                 layout: nil, exclusive: true)
    }

    func testRandomBodiesForEveryOpcodeNeverStopTheService() async throws {
        let fixture = try await makeMDS()
        let raw = try await fixture.rawImport()
        var generator = SystemRandomNumberGenerator()
        let opcodes = MDTOpcode.allCases.filter { $0 != .connect && $0 != .disconnect }
        var errors = 0
        for round in 0..<300 {
            let opcode = opcodes[round % opcodes.count]
            var bytes = (0..<Int.random(in: 0...160, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if opcode == .reint, bytes.count >= 4 {
                bytes[0] = UInt8.random(in: 1...8, using: &generator)
                bytes[1] = 0; bytes[2] = 0; bytes[3] = 0
            }
            let response = try await raw.call(opcode: opcode.rawValue, buffers: [ByteBuffer(bytes: bytes)])
            if response.reply.status < 0 { errors += 1 }
        }
        XCTAssertGreaterThan(errors, 250, "random bodies are refused")
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        _ = try await mdc.create(parent: root, name: "after-fuzz", kind: .directory, mode: 0o755, credentials: .root,
                                 layout: nil, exclusive: true)
    }

    /// `MDS_BATCH`: many lookups in one RPC, each answered on its own (found with its layout,
    /// missing, refused by permissions), in order; a malformed batch is refused as a whole.
    func testBatchedLookupsAnswerEachNameOnItsOwn() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "batch", kind: .directory, mode: 0o755,
                                            credentials: .root, layout: nil, exclusive: true)
        var made: [String: LustreFID] = [:]
        for i in 0..<40 where i % 7 != 3 {
            let name = String(format: "f%03d", i)
            let (file, _) = try await mdc.create(parent: dir.fid, name: name, kind: .file, mode: 0o644, credentials: .root,
                                                 layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 1), exclusive: true)
            made[name] = file.fid
        }
        let (closed, _) = try await mdc.create(parent: root, name: "closed", kind: .directory, mode: 0o700,
                                               credentials: .root, layout: nil, exclusive: true)
        let names = (0..<40).map { String(format: "f%03d", $0) } + [String(repeating: "x", count: 300)]
        let results = try await mdc.lookup(parent: dir.fid, names: names, credentials: Self.user)
        XCTAssertEqual(results.count, names.count)
        for (name, result) in zip(names, results) {
            switch result {
            case .success(let (attributes, layout)):
                XCTAssertEqual(attributes.fid, made[name], name)
                XCTAssertEqual(layout?.objects.count, 1, "\(name) comes with its layout")
            case .failure(let error):
                XCTAssertNil(made[name], "\(name): \(error)")
                XCTAssertEqual(error.errno, name.count > 255 ? ENAMETOOLONG : ENOENT, name)
            }
        }
        let refused = try await mdc.lookup(parent: closed.fid, names: ["a", "b"], credentials: Self.user)
        XCTAssertEqual(refused.map(errno(of:)), [EACCES, EACCES], "a directory the caller may not search")
        let stats = try ParamTree.shared.get("mdt.testfs-MDT0000.md_stats").first?.value ?? ""
        XCTAssertTrue(stats.contains("\ngetattr "), "batched lookups count as getattr:\n\(stats)")

        let raw = try await fixture.rawImport()
        var wrongMagic = MDTBatchRequest(items: [MDTBatchRequest.Item(MDTLookupRequest(credentials: .root, parent: dir.fid, name: "f000"))]).encoded()
        wrongMagic.setInteger(UInt32(0x1234), at: 0, endianness: .little)
        let badMagic = try await raw.call(opcode: MDTOpcode.batch.rawValue, buffers: [wrongMagic])
        XCTAssertEqual(badMagic.reply.status, -EPROTO)
        var nested = ByteBuffer()
        nested.writeInteger(MDTBatchRequest.magic, endianness: .little)
        nested.writeInteger(UInt32(1), endianness: .little)
        nested.writeInteger(MDTOpcode.reint.rawValue, endianness: .little)
        nested.writeInteger(UInt32(0), endianness: .little)
        let changing = try await raw.call(opcode: MDTOpcode.batch.rawValue, buffers: [nested])
        XCTAssertEqual(changing.reply.status, -EOPNOTSUPP, "a batch carries no namespace change")
        let (still, _) = try await mdc.lookup(parent: dir.fid, name: "f000", credentials: .root)
        XCTAssertEqual(still.fid, made["f000"])
    }

    /// Closes sent with `closeLater` travel together in `MDS_BATCH` RPCs, not one each: the MDS
    /// closes every handle (an unlinked file's objects go at its last close), and a batched close
    /// that would set the size is refused.
    func testBackgroundClosesAreBatched() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        var handles: [UInt64] = []
        var objects: [LayoutObject] = []
        for i in 0..<20 {
            let (_, layout, handle) = try await mdc.createOpen(parent: root, name: "c\(i)", mode: 0o644, credentials: .root,
                                                               layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 1),
                                                               exclusive: true, openFlags: O_RDWR)
            handles.append(handle)
            if i < 3 { objects += try XCTUnwrap(layout).objects }
        }
        try ParamTree.shared.set("mdc.\(mdc.name).stats", value: "clear")
        for i in 0..<3 { try await mdc.unlink(parent: root, name: "c\(i)", credentials: .root) }
        _ = try await mdc.sync()
        for object in objects { XCTAssertTrue(fixture.objectExists(object), "open unlinked files keep their objects") }
        for handle in handles { mdc.closeLater(handle: handle) }
        try await waitUntilDestroyed(objects, fixture)
        for object in objects { XCTAssertFalse(fixture.objectExists(object), "the batched last close destroyed \(object)") }
        let stats = try ParamTree.shared.get("mdc.\(mdc.name).stats").first?.value ?? ""
        XCTAssertFalse(stats.contains("mds_close "), "no close went alone:\n\(stats)")
        let batches = stats.split(separator: "\n").first { $0.hasPrefix("mds_batch ") }.flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) }
        XCTAssertNotNil(batches, stats)
        XCTAssertLessThanOrEqual(batches ?? 99, 3, "20 closes in a few batches:\n\(stats)")
        for handle in handles {
            await assertErrno(EBADF) { try await mdc.close(handle: handle, size: nil, blocks: nil) }
        }

        let (_, _, written) = try await mdc.createOpen(parent: root, name: "sized", mode: 0o644, credentials: .root,
                                                       layout: nil, exclusive: true, openFlags: O_RDWR)
        let raw = try await fixture.rawImport(client: 0)
        let sized = MDTBatchRequest(items: [MDTBatchRequest.Item(MDTCloseRequest(credentials: .root, handle: written,
                                                                                  size: 4096, blocks: 8))])
        let response = try await raw.call(opcode: MDTOpcode.batch.rawValue, buffers: [sized.encoded()])
        let reply = try MDTBatchReply(decoding: try response.reply.buffer(0, "batch reply"))
        XCTAssertEqual(reply.items.map(\.status), [-EINVAL], "a close that sets the size needs its own RPC")
    }

    /// POSIX: the open of an `open(O_CREAT)` that makes the file gets the access it asked for,
    /// whatever mode the new file has; an existing file, or a later open, is checked as usual.
    func testTheCreatorOpensWhatItMadeWhateverItsMode() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "pub", kind: .directory, mode: 0o1777,
                                            credentials: .root, layout: nil, exclusive: true)
        let user = MDTCredentials(uid: 1000, gid: 1000)
        let (made, _, handle) = try await mdc.createOpen(parent: dir.fid, name: "ro", mode: 0o444, credentials: user,
                                                         layout: nil, exclusive: true, openFlags: O_WRONLY)
        XCTAssertEqual(made.mode & 0o7777, 0o444)
        try await mdc.close(handle: handle, size: nil, blocks: nil)
        await assertErrno(EACCES) {
            _ = try await mdc.open(made.fid, flags: O_WRONLY, credentials: user)
        }
        await assertErrno(EACCES) {
            _ = try await mdc.createOpen(parent: dir.fid, name: "ro", mode: 0o644, credentials: user,
                                         layout: nil, exclusive: false, openFlags: O_WRONLY)
        }
    }

    private func errno(of result: Result<(MDTAttributes, LustreLayout?), LustreError>) -> Int32 {
        if case .failure(let error) = result { return error.errno }
        return 0
    }

    func testConnectingToAnotherTargetIsRefused() async throws {
        let fixture = try await makeMDS()
        var configuration = MDCDevice.Configuration()
        configuration.recoveryTimeout = 5
        let mdc = MDCDevice(lnet: try await fixture.clientLNet(0), server: MDSTestNet.mdsNID,
                            target: try TargetName(parsing: "otherfs-MDT0000"), configuration: configuration)
        await assertErrno(ENODEV) { try await mdc.connect() }
    }
}
