#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LibCFS
import ObdClass
import Testing
@testable import MDT

@Suite("MDT namespace")
struct MDTNamespaceTests {
    @Test("a created file gets a new FID, objects from the allocator, and is found by lookup and getattr")
    func createLookupGetattr() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        #expect(root == LustreFID(sequence: 0x2_0000_0007, objectID: 1))
        let created = try await mdt.create(parent: root, name: "f", kind: .file, mode: 0o640, credentials: user1,
                                           layout: nil, exclusive: true)
        #expect(created.attributes.fid.sequence >= LustreFID.firstNormalSequence)
        #expect(created.attributes.mode == UInt32(S_IFREG) | 0o640)
        #expect(created.attributes.uid == 1000 && created.attributes.gid == 1000)
        #expect(created.transno > 0)
        let layout = try #require(created.layout)
        #expect(layout.objects.count == 1 && layout.fid == created.attributes.fid)
        #expect(scratch.allocator.calls.withLock { $0.allocated[created.attributes.fid] } == layout.objects)
        #expect(try await mdt.lookup(parent: root, name: "f", credentials: user1) == created.attributes)
        #expect(try await mdt.getattr(created.attributes.fid) == created.attributes)
        #expect(try await mdt.layout(of: created.attributes.fid) == layout)
        #expect(try await mdt.fid2path(created.attributes.fid) == "f")
        let second = try await mdt.mkfile(root, "g")
        #expect(second.fid != created.attributes.fid)
        await mdt.close()
    }

    @Test("lookup and create fail with the POSIX errnos")
    func errors() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let file = try await mdt.mkfile(root, "f")
        let dir = try await mdt.mkdir(root, "d")
        try await mdt.mkfile(dir.fid, "x")
        await expectErrno(ENOENT, "lookup missing") { _ = try await mdt.lookup(parent: root, name: "nope", credentials: .root) }
        await expectErrno(EEXIST, "exclusive create") { try await mdt.mkfile(root, "f") }
        await expectErrno(EEXIST, "mkdir over a file") { try await mdt.mkdir(root, "f") }
        await expectErrno(ENOTDIR, "create under a file") { try await mdt.mkfile(file.fid, "x") }
        await expectErrno(EISDIR, "unlink a directory") { _ = try await mdt.unlink(parent: root, name: "d", credentials: .root) }
        await expectErrno(ENOTDIR, "rmdir a file") { _ = try await mdt.rmdir(parent: root, name: "f", credentials: .root) }
        await expectErrno(ENOTEMPTY, "rmdir non-empty") { _ = try await mdt.rmdir(parent: root, name: "d", credentials: .root) }
        await expectErrno(ENAMETOOLONG, "long name") { try await mdt.mkfile(root, String(repeating: "n", count: 256)) }
        await expectErrno(EINVAL, "dot") { try await mdt.mkfile(root, ".") }
        await expectErrno(EINVAL, "dotdot") { try await mdt.mkdir(root, "..") }
        await expectErrno(EINVAL, "slash") { try await mdt.mkfile(root, "a/b") }
        await expectErrno(EINVAL, "empty") { try await mdt.mkfile(root, "") }
        await expectErrno(ESTALE, "unknown FID") { _ = try await mdt.getattr(LustreFID(sequence: 0x2_0000_0400, objectID: 999_999)) }
        let again = try await mdt.create(parent: root, name: "f", kind: .file, mode: 0o644, credentials: .root,
                                         layout: nil, exclusive: false)
        #expect(again.attributes.fid == file.fid && again.transno == 0)
        await expectErrno(EISDIR, "O_CREAT of a directory") {
            _ = try await mdt.create(parent: root, name: "d", kind: .file, mode: 0o644, credentials: .root, layout: nil,
                                     exclusive: false)
        }
        try await mdt.mkfile(root, String(repeating: "n", count: 255))
        await mdt.close()
    }

    @Test("mkdir, symlink, node, readlink and rmdir")
    func otherKinds() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d", mode: 0o750)
        #expect(dir.mode == UInt32(S_IFDIR) | 0o750 && dir.nlink == 2)
        let link = try await mdt.create(parent: dir.fid, name: "l", kind: .symlink(target: "../elsewhere/x"), mode: 0,
                                        credentials: .root, layout: nil, exclusive: true)
        #expect(link.attributes.isSymlink && link.layout == nil)
        #expect(try await mdt.readlink(link.attributes.fid, credentials: .root) == "../elsewhere/x")
        await expectErrno(EINVAL, "readlink of a dir") { _ = try await mdt.readlink(dir.fid, credentials: .root) }
        let fifo = try await mdt.create(parent: dir.fid, name: "p", kind: .node(rdev: 0), mode: UInt32(S_IFIFO) | 0o600,
                                        credentials: .root, layout: nil, exclusive: true)
        #expect(fifo.attributes.mode == UInt32(S_IFIFO) | 0o600)
        await expectErrno(EPERM, "device by non-root") {
            _ = try await mdt.create(parent: root, name: "c", kind: .node(rdev: 0x0103), mode: UInt32(S_IFCHR) | 0o600,
                                     credentials: user1, layout: nil, exclusive: true)
        }
        #expect(try await mdt.fid2path(link.attributes.fid) == "d/l")
        #expect(Set(try await mdt.names(dir.fid)) == ["l", "p"])
        _ = try await mdt.unlink(parent: dir.fid, name: "l", credentials: .root)
        _ = try await mdt.unlink(parent: dir.fid, name: "p", credentials: .root)
        _ = try await mdt.rmdir(parent: root, name: "d", credentials: .root)
        await expectErrno(ESTALE, "removed dir") { _ = try await mdt.getattr(dir.fid) }
        await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "d", credentials: .root) }
        await mdt.close()
    }

    @Test("unlink of a last name destroys the objects; hard links keep them until the last")
    func unlinkAndHardLinks() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d")
        let file = try await mdt.mkfile(root, "f")
        let (linked, _) = try await mdt.link(file.fid, parent: dir.fid, name: "g", credentials: .root)
        #expect(linked.nlink == 2)
        await expectErrno(EEXIST) { _ = try await mdt.link(file.fid, parent: dir.fid, name: "g", credentials: .root) }
        await expectErrno(EPERM, "link to dir") { _ = try await mdt.link(dir.fid, parent: root, name: "dd", credentials: .root) }
        _ = try await mdt.unlink(parent: root, name: "f", credentials: .root)
        #expect(scratch.allocator.destroyed(file.fid) == nil)
        #expect(try await mdt.getattr(file.fid).nlink == 1)
        #expect(try await mdt.fid2path(file.fid) == "d/g")
        _ = try await mdt.unlink(parent: dir.fid, name: "g", credentials: .root)
        #expect(scratch.allocator.destroyed(file.fid)?.count == 1)
        await expectErrno(ESTALE) { _ = try await mdt.getattr(file.fid) }
        await expectErrno(ENOENT) { _ = try await mdt.unlink(parent: dir.fid, name: "g", credentials: .root) }
        await mdt.close()
    }

    @Test("rename moves files and directories, overwrites files and empty directories, refuses loops")
    func rename() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let a = try await mdt.mkdir(root, "a")
        let b = try await mdt.mkdir(a.fid, "b")
        let f = try await mdt.mkfile(a.fid, "f")
        let victim = try await mdt.mkfile(root, "victim")
        _ = try await mdt.rename(from: a.fid, name: "f", to: a.fid, newName: "f2", credentials: .root)
        #expect(try await mdt.fid2path(f.fid) == "a/f2")
        _ = try await mdt.rename(from: a.fid, name: "f2", to: root, newName: "victim", credentials: .root)
        #expect(try await mdt.lookup(parent: root, name: "victim", credentials: .root).fid == f.fid)
        #expect(scratch.allocator.destroyed(victim.fid)?.count == 1)
        await expectErrno(ESTALE) { _ = try await mdt.getattr(victim.fid) }
        await expectErrno(EINVAL, "into own subtree") {
            _ = try await mdt.rename(from: root, name: "a", to: b.fid, newName: "a", credentials: .root)
        }
        await expectErrno(EINVAL, "onto itself below") {
            _ = try await mdt.rename(from: root, name: "a", to: a.fid, newName: "x", credentials: .root)
        }
        let empty = try await mdt.mkdir(root, "empty")
        _ = try await mdt.rename(from: a.fid, name: "b", to: root, newName: "empty", credentials: .root)
        #expect(try await mdt.lookup(parent: root, name: "empty", credentials: .root).fid == b.fid)
        await expectErrno(ESTALE) { _ = try await mdt.getattr(empty.fid) }
        #expect(try await mdt.fid2path(b.fid) == "empty")
        try await mdt.mkfile(b.fid, "inside")
        let c = try await mdt.mkdir(root, "c")
        await expectErrno(ENOTEMPTY, "over a non-empty dir") {
            _ = try await mdt.rename(from: root, name: "c", to: root, newName: "empty", credentials: .root)
        }
        await expectErrno(EISDIR, "file over dir") {
            _ = try await mdt.rename(from: root, name: "victim", to: root, newName: "c", credentials: .root)
        }
        await expectErrno(ENOTDIR, "dir over file") {
            _ = try await mdt.rename(from: root, name: "c", to: root, newName: "victim", credentials: .root)
        }
        await expectErrno(ENOENT) { _ = try await mdt.rename(from: root, name: "zz", to: root, newName: "y", credentials: .root) }
        _ = try await mdt.rename(from: root, name: "c", to: b.fid, newName: "c", credentials: .root)
        #expect(try await mdt.fid2path(c.fid) == "empty/c")
        #expect(try await mdt.lookup(parent: c.fid, name: "..", credentials: .root).fid == b.fid)
        #expect(try await mdt.rename(from: root, name: "victim", to: root, newName: "victim", credentials: .root) == 0)
        await mdt.close()
    }

    @Test("rename with noReplace (RENAME_NOREPLACE) is EEXIST onto any existing name and renames onto a free one")
    func renameNoReplace() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d")
        let f = try await mdt.mkfile(root, "f")
        let g = try await mdt.mkfile(dir.fid, "g")
        let empty = try await mdt.mkdir(root, "empty")
        await expectErrno(EEXIST, "over a file") {
            _ = try await mdt.rename(from: root, name: "f", to: dir.fid, newName: "g", noReplace: true, credentials: .root)
        }
        await expectErrno(EEXIST, "over an empty directory") {
            _ = try await mdt.rename(from: dir.fid, name: "g", to: root, newName: "empty", noReplace: true, credentials: .root)
        }
        await expectErrno(EEXIST, "onto itself") {
            _ = try await mdt.rename(from: root, name: "f", to: root, newName: "f", noReplace: true, credentials: .root)
        }
        // Nothing moved or was destroyed.
        #expect(try await mdt.lookup(parent: root, name: "f", credentials: .root).fid == f.fid)
        #expect(try await mdt.lookup(parent: dir.fid, name: "g", credentials: .root).fid == g.fid)
        #expect(try await mdt.lookup(parent: root, name: "empty", credentials: .root).fid == empty.fid)
        #expect(scratch.allocator.destroyed(g.fid) == nil)
        _ = try await mdt.rename(from: root, name: "f", to: dir.fid, newName: "h", noReplace: true, credentials: .root)
        #expect(try await mdt.fid2path(f.fid) == "d/h")
        await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "f", credentials: .root) }
        await mdt.close()
    }

    @Test("an unlinked open file stays readable until its last close, which destroys its objects")
    func openUnlinked() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let file = try await mdt.mkfile(root, "f")
        let (_, layout, handle) = try await mdt.open(file.fid, flags: O_RDWR, credentials: .root, owner: 7)
        #expect(layout?.objects.count == 1)
        _ = try await mdt.unlink(parent: root, name: "f", credentials: .root)
        await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "f", credentials: .root) }
        #expect(try await mdt.getattr(file.fid).nlink == 0)
        #expect(try await mdt.layout(of: file.fid) == layout)
        #expect(scratch.allocator.destroyed(file.fid) == nil)
        await expectErrno(EBADF, "wrong owner") { _ = try await mdt.close(handle: handle, size: nil, blocks: nil, owner: 8) }
        _ = try await mdt.close(handle: handle, size: 10, blocks: 1, owner: 7)
        #expect(scratch.allocator.destroyed(file.fid) == layout?.objects)
        await expectErrno(ESTALE) { _ = try await mdt.getattr(file.fid) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/PENDING").isEmpty)
        await mdt.close()
    }

    @Test("a file replaced by rename while open stays readable until its last close")
    func renameOverOpenFile() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let old = try await mdt.mkfile(root, "old")
        try await mdt.mkfile(root, "new")
        let (_, layout, handle) = try await mdt.open(old.fid, flags: O_RDONLY, credentials: .root, owner: 3)
        _ = try await mdt.rename(from: root, name: "new", to: root, newName: "old", credentials: .root)
        #expect(try await mdt.getattr(old.fid).nlink == 0)
        #expect(scratch.allocator.destroyed(old.fid) == nil)
        _ = try await mdt.close(handle: handle, size: nil, blocks: nil, owner: 3)
        #expect(scratch.allocator.destroyed(old.fid) == layout?.objects)
        await expectErrno(ESTALE) { _ = try await mdt.getattr(old.fid) }
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("an orphan left open at a crash waits for its client to open it again: destroyed at its last close, or after the grace")
    func orphanAtRestart() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let reopened = try await mdt.mkfile(mdt.rootFID, "reopened", mode: 0o400, as: user1)
        let abandoned = try await mdt.mkfile(mdt.rootFID, "abandoned")
        for file in [reopened, abandoned] {
            _ = try await mdt.open(file.fid, flags: O_RDONLY, credentials: .root, owner: 1)
        }
        _ = try await mdt.unlink(parent: mdt.rootFID, name: "reopened", credentials: .root)
        _ = try await mdt.sync()
        _ = try await mdt.unlink(parent: mdt.rootFID, name: "abandoned", credentials: .root)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/PENDING").count == 2)
        // One unlink committed, the other only in the log: both go back to PENDING/ at the restart.
        mdt.simulateCrash()
        var options = MDTDevice.Options()
        options.orphanGrace = 1
        mdt = try await scratch.open(options)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/PENDING").count == 2)
        #expect(scratch.allocator.destroyed(reopened.fid) == nil)
        #expect(try await mdt.getattr(reopened.fid).nlink == 0)
        let recovering = mdt.recoveryStatusText(connectedClients: 1)
        #expect(recovering.hasPrefix("status: RECOVERING\n"), "\(recovering)")
        #expect(recovering.contains("\norphans_waiting: 2\n"), "\(recovering)")
        // Its owner opens it again for writing although its mode says read-only (it may have
        // been the creator's open); someone else may not.
        await expectErrno(EACCES) {
            _ = try await mdt.open(reopened.fid, flags: O_WRONLY, credentials: user2, owner: 2, again: true)
        }
        let (_, _, handle) = try await mdt.open(reopened.fid, flags: O_WRONLY, credentials: user1, owner: 2, again: true)
        #expect(mdt.recoveryStatusText(connectedClients: 1).contains("\norphans_waiting: 1\n"))
        try await Task.sleep(nanoseconds: 1_500_000_000)
        #expect(scratch.allocator.destroyed(abandoned.fid)?.count == 1, "not opened again within the grace")
        await expectErrno(ESTALE) { _ = try await mdt.getattr(abandoned.fid) }
        #expect(try await mdt.getattr(reopened.fid).fid == reopened.fid, "open again: kept past the grace")
        let complete = mdt.recoveryStatusText(connectedClients: 1)
        #expect(complete.hasPrefix("status: COMPLETE\nrecovery_start: "), "\(complete)")
        #expect(complete.contains("\norphans_at_start: 2\norphans_waiting: 0\n"), "\(complete)")
        _ = try await mdt.close(handle: handle, size: nil, blocks: nil, owner: 2)
        #expect(scratch.allocator.destroyed(reopened.fid)?.count == 1, "destroyed at its last close")
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/PENDING").isEmpty)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("close records the size and blocks a client reports; setattr changes mode, owner, times, size")
    func setattrAndClose() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f")
        let (_, _, handle) = try await mdt.open(file.fid, flags: O_WRONLY, credentials: .root, owner: 1)
        #expect(try await mdt.close(handle: handle, size: 123_456, blocks: 256, owner: 1) > 0)
        var attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 123_456 && attributes.blocks == 256)
        let change = MDTSetattr(valid: [.mode, .uid, .gid, .atime, .mtime], mode: 0o4711, uid: 5, gid: 6,
                                atime: MDTTime(seconds: 1000, nanoseconds: 5), mtime: MDTTime(seconds: 2000))
        (attributes, _) = try await mdt.setattr(file.fid, change, credentials: .root)
        #expect(attributes.mode == UInt32(S_IFREG) | 0o4711 && attributes.uid == 5 && attributes.gid == 6)
        #expect(attributes.atime == MDTTime(seconds: 1000, nanoseconds: 5) && attributes.mtime == MDTTime(seconds: 2000))
        (attributes, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 0), credentials: .root)
        #expect(attributes.size == 0 && attributes.blocks == 0)
        (attributes, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .mtimeNow), credentials: .root)
        #expect(attributes.mtime.seconds > 1_700_000_000)
        // A close carries the mtime of the client's last write (the writes went to the OSTs).
        let written = MDTTime(seconds: 1_800_000_000, nanoseconds: 123)
        let (_, _, again) = try await mdt.open(file.fid, flags: O_WRONLY, credentials: .root, owner: 1)
        #expect(try await mdt.close(handle: again, size: 10, blocks: 1, mtime: written, owner: 1) > 0)
        attributes = try await mdt.getattr(file.fid)
        #expect(attributes.size == 10 && attributes.mtime == written)
        let (_, _, same) = try await mdt.open(file.fid, flags: O_WRONLY, credentials: .root, owner: 1)
        let rewritten = MDTTime(seconds: 1_800_000_001)
        #expect(try await mdt.close(handle: same, size: 10, blocks: 1, mtime: rewritten, owner: 1) > 0,
                "the same size, rewritten later: the mtime alone changes")
        #expect(try await mdt.getattr(file.fid).mtime == rewritten)
        let dir = try await mdt.mkdir(mdt.rootFID, "d")
        await expectErrno(EISDIR) { _ = try await mdt.setattr(dir.fid, MDTSetattr(valid: .size, size: 1), credentials: .root) }
        await mdt.close()
    }

    @Test("statfs reports the MDT volume")
    func statfs() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let statfs = try mdt.statfs()
        #expect(statfs.blocks > 0 && statfs.files > 0 && statfs.blockSize > 0 && statfs.nameLength == 255)
        #expect(statfs.fsid == "testfs-MDT0000_UUID")
        await mdt.close()
    }
}
