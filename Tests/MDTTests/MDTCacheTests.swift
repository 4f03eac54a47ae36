#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Testing
@testable import MDT

/// The values `MDTInode` remembers (size on MDS, layouts, names) and the lookup by inode number
/// must always say what the disk says: after every kind of change, after replay, and for a name
/// whose inode number ext4 hands out again.
@Suite("MDT inode caches")
struct MDTCacheTests {
    @Test("with far more inodes than the cache holds, every file stays reachable by FID and by name, and the cache stays bounded")
    func smallInodeCache() async throws {
        let scratch = MDTScratch()
        var options = MDTDevice.Options()
        options.inodeCacheCapacity = 64
        var mdt = try await scratch.open(options)
        var directories: [LustreFID] = []
        for d in 0..<3 { directories.append(try await mdt.mkdir(mdt.rootFID, "d\(d)").fid) }
        var files: [(parent: LustreFID, name: String, fid: LustreFID)] = []
        for i in 0..<600 {
            let parent = directories[i % 3]
            let name = "f\(i)"
            let file = try await mdt.mkfile(parent, name)
            _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: UInt64(i)), credentials: .root)
            files.append((parent, name, file.fid))
            #expect(mdt.tree.oi.cachedCount <= 64)
        }
        for (i, file) in files.enumerated() {
            let byFID = try await mdt.getattr(file.fid)
            let byName = try await mdt.lookup(parent: file.parent, name: file.name, credentials: .root)
            #expect(byFID.fid == file.fid && byFID.size == UInt64(i))
            #expect(byName.fid == file.fid && byName.size == UInt64(i))
        }
        #expect(mdt.tree.oi.cachedCount <= 64)
        // Renames and unlinks of inodes long evicted, then the namespace as listed.
        _ = try await mdt.rename(from: files[0].parent, name: files[0].name, to: directories[2], newName: "moved",
                                 credentials: .root)
        _ = try await mdt.unlink(parent: files[1].parent, name: files[1].name, credentials: .root)
        #expect(try await mdt.lookup(parent: directories[2], name: "moved", credentials: .root).fid == files[0].fid)
        await expectErrno(ESTALE, "unlinked") { _ = try await mdt.getattr(files[1].fid) }
        var listed = 0
        for directory in directories { listed += try await mdt.names(directory).count }
        #expect(listed == 599)
        await mdt.close()
        mdt = try await scratch.open(options)
        #expect(try await mdt.getattr(files[599].fid).size == 599)
        #expect(try await mdt.lookup(parent: directories[2], name: "moved", credentials: .root).size == 0)
        await mdt.close()
    }

    @Test("getattr size follows setattr, close and truncate, and agrees with a fresh start")
    func sizeOnMDS() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f")
        #expect(try await mdt.getattr(file.fid).size == 0)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 5000), credentials: .root)
        #expect(try await mdt.getattr(file.fid).size == 5000)
        let opened = try await mdt.open(file.fid, flags: O_RDWR, credentials: .root, owner: 1)
        _ = try await mdt.close(handle: opened.handle, size: 123_456, blocks: 256, owner: 1)
        var attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 123_456 && attributes.blocks == 256)
        #expect(try await mdt.lookup(parent: mdt.rootFID, name: "f", credentials: .root).size == 123_456)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 0), credentials: .root)
        attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 0 && attributes.blocks == 0)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 777), credentials: .root)
        await mdt.close()
        mdt = try await scratch.open()
        #expect(try await mdt.getattr(file.fid).size == 777)
        await mdt.close()
    }

    @Test("a close that records the size keeps the ctime the file showed; its writes' mtime, or a later change, moves it")
    func closeKeepsCtime() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f")
        // As tar -x: the file is open, its mode is set, then it is closed with its size.
        let opened = try await mdt.open(file.fid, flags: O_RDWR, credentials: .root, owner: 1)
        let changed = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o640), credentials: .root).0.ctime
        usleep(10_000)  // past a tick of the kernel's coarse clock (4 ms at HZ=250)
        _ = try await mdt.close(handle: opened.handle, size: 4096, blocks: 8, owner: 1)
        var attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 4096 && attributes.ctime == changed)
        #expect(try await mdt.lookup(parent: mdt.rootFID, name: "f", credentials: .root).ctime == changed)
        // A close after writes: the ctime is the writes' mtime when that is later.
        let written = MDTTime(seconds: changed.seconds + 5, nanoseconds: 0)
        let again = try await mdt.open(file.fid, flags: O_RDWR, credentials: .root, owner: 1)
        _ = try await mdt.close(handle: again.handle, size: 8192, blocks: 16, mtime: written, owner: 1)
        attributes = try await mdt.getattr(file.fid)
        #expect(attributes.mtime == written && attributes.ctime == written)
        // A change after the close shows its own ctime.
        usleep(10_000)  // past a tick of the kernel's coarse clock (4 ms at HZ=250)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o600), credentials: .root)
        attributes = try await mdt.getattr(file.fid)
        #expect(attributes.ctime != written && attributes.ctime > changed)
        await mdt.close()
    }

    @Test("attributes say a file has no SELinux label only while it has none, across set, remove and a restart")
    func selinuxLabelHint() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "labelled")
        let label = MDTAttributeHints.selinuxLabelName
        #expect(try await mdt.getattr(file.fid).hints.contains(.noSELinuxLabel))
        _ = try await mdt.setxattr(file.fid, name: label, value: Array("system_u:object_r:x_t:s0".utf8), flags: 0,
                                   credentials: .root)
        #expect(!(try await mdt.getattr(file.fid).hints.contains(.noSELinuxLabel)))
        #expect(!(try await mdt.lookup(parent: mdt.rootFID, name: "labelled", credentials: .root).hints.contains(.noSELinuxLabel)))
        await mdt.close()
        mdt = try await scratch.open()
        #expect(!(try await mdt.getattr(file.fid).hints.contains(.noSELinuxLabel)), "the label is on disk")
        _ = try await mdt.removexattr(file.fid, name: label, credentials: .root)
        #expect(try await mdt.getattr(file.fid).hints.contains(.noSELinuxLabel))
        _ = try await mdt.setxattr(file.fid, name: "security.other", value: [1], flags: 0, credentials: .root)
        #expect(try await mdt.getattr(file.fid).hints.contains(.noSELinuxLabel), "only the label counts")
        await mdt.close()
    }

    @Test("a size change logged but not applied is replayed, and getattr then reports it")
    func sizeAfterReplay() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f")
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 10), credentials: .root)
        #expect(try await mdt.getattr(file.fid).size == 10)
        let opened = try await mdt.open(file.fid, flags: O_WRONLY, credentials: .root, owner: 1)
        mdt.failAfterLogAppend.store(true, ordering: .releasing)
        await expectErrno(EIO, "close") {
            _ = try await mdt.close(handle: opened.handle, size: 4096, blocks: 8, owner: 1)
        }
        mdt.simulateCrash()
        mdt = try await scratch.open()
        let attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 4096 && attributes.blocks == 8)
        // A replayed setattr over a value read (and remembered) during the same replay.
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 1), credentials: .root)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 2), credentials: .root)
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await mdt.getattr(file.fid).size == 2)
        await mdt.close()
    }

    @Test("lookups follow link, rename and unlink of the same inode")
    func lookupAfterNamespaceChanges() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d")
        let file = try await mdt.mkfile(root, "f")
        #expect(try await mdt.lookup(parent: root, name: "f", credentials: .root).fid == file.fid)
        _ = try await mdt.link(file.fid, parent: dir.fid, name: "g", credentials: .root)
        var found = try await mdt.lookup(parent: dir.fid, name: "g", credentials: .root)
        #expect(found.fid == file.fid && found.nlink == 2)
        _ = try await mdt.unlink(parent: root, name: "f", credentials: .root)
        await expectErrno(ENOENT, "lookup f") { _ = try await mdt.lookup(parent: root, name: "f", credentials: .root) }
        found = try await mdt.lookup(parent: dir.fid, name: "g", credentials: .root)
        #expect(found.fid == file.fid && found.nlink == 1)
        _ = try await mdt.rename(from: dir.fid, name: "g", to: root, newName: "h", credentials: .root)
        await expectErrno(ENOENT, "lookup g") { _ = try await mdt.lookup(parent: dir.fid, name: "g", credentials: .root) }
        #expect(try await mdt.lookup(parent: root, name: "h", credentials: .root).fid == file.fid)
        #expect(try await mdt.fid2path(file.fid) == "h")
        _ = try await mdt.rename(from: root, name: "d", to: root, newName: "e", credentials: .root)
        #expect(try await mdt.lookup(parent: root, name: "e", credentials: .root).fid == dir.fid)
        #expect(try await mdt.lookup(parent: dir.fid, name: "..", credentials: .root).fid == root)
        _ = try await mdt.unlink(parent: root, name: "h", credentials: .root)
        await expectErrno(ENOENT, "lookup h") { _ = try await mdt.lookup(parent: root, name: "h", credentials: .root) }
        await expectErrno(ESTALE, "getattr") { _ = try await mdt.getattr(file.fid) }
        await mdt.close()
    }

    @Test("a name whose inode number ext4 reuses finds the new inode, not the destroyed one")
    func lookupAfterInodeNumberReuse() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        for round in 0..<200 {
            let created = try await mdt.mkfile(root, "x")
            let found = try await mdt.lookup(parent: root, name: "x", credentials: .root)
            #expect(found.fid == created.fid, "round \(round)")
            let listed = try await mdt.readdir(root, cookie: 0, maxEntries: 100, credentials: .root).entries
            #expect(listed.first { $0.name == "x" }?.fid == created.fid, "readdir, round \(round)")
            _ = try await mdt.setattr(created.fid, MDTSetattr(valid: .size, size: UInt64(round)), credentials: .root)
            #expect(try await mdt.lookup(parent: root, name: "x", credentials: .root).size == UInt64(round))
            if round % 2 == 0 {
                _ = try await mdt.unlink(parent: root, name: "x", credentials: .root)
            } else {
                let other = try await mdt.mkfile(root, "y")
                _ = try await mdt.rename(from: root, name: "y", to: root, newName: "x", credentials: .root)
                #expect(try await mdt.lookup(parent: root, name: "x", credentials: .root).fid == other.fid)
                #expect(try await mdt.lookup(parent: root, name: "x", credentials: .root).size == 0)
                _ = try await mdt.unlink(parent: root, name: "x", credentials: .root)
            }
        }
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("a directory's default layout follows setstripe, lustre.lov and its removal, and the root's")
    func defaultLayoutChanges() async throws {
        let scratch = MDTScratch(ostCount: 4)
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d")
        func stripes(_ name: String) async throws -> (UInt16, UInt32) {
            let layout = try await mdt.create(parent: dir.fid, name: name, kind: .file, mode: 0o644, credentials: .root,
                                              layout: nil, exclusive: true).layout
            return (layout?.stripeCount ?? 0, layout?.stripeSize ?? 0)
        }
        #expect(try await stripes("a").0 == 1)
        _ = try await mdt.setLayout(dir.fid, LustreLayout(stripeCount: 2), credentials: .root)
        #expect(try await stripes("b").0 == 2)
        var value = Array(LustreLayout(stripeCount: 3).encoded().readableBytesView)
        _ = try await mdt.setxattr(dir.fid, name: "lustre.lov", value: value, flags: 0, credentials: .root)
        #expect(try await stripes("c").0 == 3)
        value = Array(LustreLayout(stripeCount: 4).encoded().readableBytesView)
        _ = try await mdt.setxattr(dir.fid, name: "trusted.lov", value: value, flags: 0, credentials: .root)
        #expect(try await stripes("d").0 == 4)
        _ = try await mdt.removexattr(dir.fid, name: "lustre.lov", credentials: .root)
        #expect(try await stripes("e").0 == 1)
        _ = try await mdt.setLayout(root, LustreLayout(stripeSize: 1 << 20, stripeCount: 2), credentials: .root)
        #expect(try await stripes("f") == (2, 1 << 20))
        _ = try await mdt.setLayout(root, LustreLayout(stripeSize: 2 << 20), credentials: .root)
        #expect(try await stripes("g") == (1, 2 << 20))
        _ = try await mdt.setLayout(dir.fid, LustreLayout(stripeCount: 3), credentials: .root)
        #expect(try await stripes("h") == (3, 2 << 20))
        // Replayed: logged, not applied, then the restart's replay sets it.
        mdt.failAfterLogAppend.store(true, ordering: .releasing)
        await expectErrno(EIO, "setstripe") {
            _ = try await mdt.setLayout(dir.fid, LustreLayout(stripeCount: 2), credentials: .root)
        }
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await stripes("i") == (2, 2 << 20))
        await mdt.close()
    }

    @Test("an inode the object index lets go stops remembering; the one it holds stays right")
    func droppedInodeReadsTheDisk() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f")
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 3), credentials: .root)
        let held = try #require(mdt.tree.oi.cached(file.fid))
        #expect(held.cached(.sizeOnMDS).value != nil)
        mdt.tree.oi.forget(file.fid)
        #expect(held.cached(.sizeOnMDS).value == nil)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 9), credentials: .root)
        #expect(held.cached(.sizeOnMDS).value == nil, "a dropped inode keeps nothing")
        #expect(try mdt.tree.xattr(held, mdt.tree.somName).map { try MDTSizeOnMDS(decoding: $0).size } == 9)
        #expect(try await mdt.getattr(file.fid).size == 9)
        #expect(try await mdt.lookup(parent: mdt.rootFID, name: "f", credentials: .root).size == 9)
        await mdt.close()
    }
}
