#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Testing
@testable import MDT

@Suite("MDT permissions")
struct MDTPermissionTests {
    @Test("create, lookup and unlink need write and search permission on the directory")
    func directoryPermissions() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let home = try await mdt.mkdir(root, "home", mode: 0o755, as: user1)
        await expectErrno(EACCES, "create without w") { try await mdt.mkfile(home.fid, "x", as: user2) }
        try await mdt.mkfile(home.fid, "mine", as: user1)
        let group = MDTCredentials(uid: 3000, gid: 3000, groups: [1000])
        #expect(try await mdt.lookup(parent: home.fid, name: "mine", credentials: group).uid == 1000)
        _ = try await mdt.setattr(home.fid, MDTSetattr(valid: .mode, mode: 0o700), credentials: user1)
        await expectErrno(EACCES, "lookup without x") { _ = try await mdt.lookup(parent: home.fid, name: "mine", credentials: user2) }
        await expectErrno(EACCES, "readdir without r") { _ = try await mdt.readdir(home.fid, cookie: 0, maxEntries: 10, credentials: user2) }
        await expectErrno(EACCES, "unlink without w") { _ = try await mdt.unlink(parent: home.fid, name: "mine", credentials: user2) }
        _ = try await mdt.setattr(home.fid, MDTSetattr(valid: .mode, mode: 0o770), credentials: user1)
        #expect(try await mdt.lookup(parent: home.fid, name: "mine", credentials: group).fid != .zero)
        try await mdt.mkfile(home.fid, "bygroup", as: group)
        #expect(try await mdt.lookup(parent: home.fid, name: "mine", credentials: .root).uid == 1000)
        await mdt.close()
    }

    @Test("in a sticky directory only the file's owner, the directory's owner or root remove entries")
    func stickyDirectory() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let tmp = try await mdt.mkdir(mdt.rootFID, "tmp", mode: 0o1777)
        try await mdt.mkfile(tmp.fid, "a", as: user1)
        try await mdt.mkfile(tmp.fid, "b", as: user1)
        await expectErrno(EPERM, "other user unlinks") { _ = try await mdt.unlink(parent: tmp.fid, name: "a", credentials: user2) }
        await expectErrno(EPERM, "other user renames") {
            _ = try await mdt.rename(from: tmp.fid, name: "a", to: tmp.fid, newName: "c", credentials: user2)
        }
        try await mdt.mkfile(tmp.fid, "theirs", as: user2)
        await expectErrno(EPERM, "overwrite other's") {
            _ = try await mdt.rename(from: tmp.fid, name: "theirs", to: tmp.fid, newName: "a", credentials: user2)
        }
        _ = try await mdt.unlink(parent: tmp.fid, name: "a", credentials: user1)
        _ = try await mdt.unlink(parent: tmp.fid, name: "b", credentials: .root)
        await mdt.close()
    }

    @Test("chmod by the owner or root, chown by root, chgrp by the owner to a group of theirs, utimes rules")
    func attributeChanges() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f", mode: 0o644, as: user1)
        await expectErrno(EPERM, "chmod by other") { _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o777), credentials: user2) }
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o600), credentials: user1)
        await expectErrno(EPERM, "chown by owner") { _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .uid, uid: 2000), credentials: user1) }
        await expectErrno(EPERM, "chgrp to a foreign group") { _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .gid, gid: 2000), credentials: user1) }
        let member = MDTCredentials(uid: 1000, gid: 1000, groups: [50])
        let (changed, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .gid, gid: 50), credentials: member)
        #expect(changed.gid == 50)
        await expectErrno(EPERM, "explicit times by other") {
            _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mtime, mtime: MDTTime(seconds: 5)), credentials: user2)
        }
        await expectErrno(EACCES, "touch without write") { _ = try await mdt.setattr(file.fid, MDTSetattr(valid: [.atimeNow, .mtimeNow]), credentials: user2) }
        await expectErrno(EACCES, "truncate without write") { _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .size, size: 0), credentials: user2) }
        let (owned, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .uid, uid: 2000), credentials: .root)
        #expect(owned.uid == 2000)
        let (sgid, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o2755), credentials: user2)
        #expect(sgid.mode & 0o7777 == 0o755, "S_ISGID dropped for a non-member")
        await mdt.close()
    }

    @Test("chown drops setuid and setgid with group execute; killSUIDGID drops them for a writer only")
    func setIDBits() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f", mode: 0o644, as: user1)
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o6755), credentials: user1)
        let (chowned, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .uid, uid: 1000), credentials: .root)
        #expect(chowned.mode & 0o7777 == 0o755, "even root's chown to the same owner drops them")
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o2745), credentials: user1)
        let (kept, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .gid, gid: 1000), credentials: user1)
        #expect(kept.mode & 0o7777 == 0o2745, "setgid without group execute is mandatory locking, not set-group-ID")

        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o6755), credentials: user1)
        await expectErrno(EACCES, "a user who may not write") {
            _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .killSUIDGID), credentials: user2)
        }
        _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o6757), credentials: user1)
        let (killed, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: [.killSUIDGID, .mtimeNow]), credentials: user2)
        #expect(killed.mode & 0o7777 == 0o757)
        let (again, _) = try await mdt.setattr(file.fid, MDTSetattr(valid: .killSUIDGID), credentials: user2)
        #expect(again.mode & 0o7777 == 0o757, "nothing left to drop: no change, no error")

        let dir = try await mdt.mkdir(mdt.rootFID, "d", mode: 0o2755)
        let (directory, _) = try await mdt.setattr(dir.fid, MDTSetattr(valid: .uid, uid: 1000), credentials: .root)
        #expect(directory.mode & 0o7777 == 0o2755, "a directory's setgid stays")
        await mdt.close()
    }

    @Test("open checks access by flags; root bypasses rwx but needs an x bit to execute")
    func openAccess() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f", mode: 0o640, as: user1)
        _ = try await mdt.open(file.fid, flags: O_RDWR, credentials: user1, owner: 1)
        let group = MDTCredentials(uid: 3000, gid: 1000)
        _ = try await mdt.open(file.fid, flags: O_RDONLY, credentials: group, owner: 1)
        await expectErrno(EACCES, "group writes") { _ = try await mdt.open(file.fid, flags: O_WRONLY, credentials: group, owner: 1) }
        await expectErrno(EACCES, "group truncates") { _ = try await mdt.open(file.fid, flags: O_RDONLY | O_TRUNC, credentials: group, owner: 1) }
        await expectErrno(EACCES, "other reads") { _ = try await mdt.open(file.fid, flags: O_RDONLY, credentials: user2, owner: 1) }
        _ = try await mdt.open(file.fid, flags: O_RDWR, credentials: .root, owner: 1)
        let dir = try await mdt.mkdir(mdt.rootFID, "d")
        await expectErrno(EISDIR) { _ = try await mdt.open(dir.fid, flags: O_WRONLY, credentials: .root, owner: 1) }
        #expect(MDTPermission.allows(.root, mode: UInt32(S_IFREG) | 0o644, uid: 1, gid: 1, mask: MDTPermission.execute) == false)
        #expect(MDTPermission.allows(.root, mode: UInt32(S_IFREG) | 0o100, uid: 1, gid: 1, mask: MDTPermission.execute))
        #expect(MDTPermission.allows(.root, mode: UInt32(S_IFDIR) | 0o000, uid: 1, gid: 1, mask: MDTPermission.execute))
        await mdt.closeAll(owner: 1)
        #expect(mdt.openFiles.withLock { $0.handles.isEmpty && $0.openCount.isEmpty })
        await mdt.close()
    }

    @Test("user xattrs need read/write permission; trusted ones are root's; the MDT's own are protected")
    func xattrs() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let file = try await mdt.mkfile(mdt.rootFID, "f", mode: 0o644, as: user1)
        _ = try await mdt.setxattr(file.fid, name: "user.color", value: Array("blue".utf8), flags: 0, credentials: user1)
        #expect(try await mdt.getxattr(file.fid, name: "user.color", credentials: user2) == Array("blue".utf8))
        await expectErrno(EACCES) { _ = try await mdt.setxattr(file.fid, name: "user.color", value: [1], flags: 0, credentials: user2) }
        await expectErrno(EEXIST) { _ = try await mdt.setxattr(file.fid, name: "user.color", value: [1], flags: 1, credentials: user1) }
        await expectErrno(ENODATA) { _ = try await mdt.setxattr(file.fid, name: "user.shape", value: [1], flags: 2, credentials: user1) }
        await expectErrno(EPERM) { _ = try await mdt.setxattr(file.fid, name: "trusted.x", value: [1], flags: 0, credentials: user1) }
        await expectErrno(EPERM) { _ = try await mdt.setxattr(file.fid, name: "trusted.lma", value: [1], flags: 0, credentials: .root) }
        await expectErrno(EOPNOTSUPP) { _ = try await mdt.setxattr(file.fid, name: "bogus.x", value: [1], flags: 0, credentials: .root) }
        _ = try await mdt.setxattr(file.fid, name: "trusted.x", value: [7], flags: 0, credentials: .root)
        let names = try await mdt.listxattr(file.fid, credentials: user1)
        #expect(names.contains("user.color") && names.contains("lustre.lov") && !names.contains("trusted.x"))
        #expect(!names.contains { $0.hasSuffix(".lma") || $0.hasSuffix(".link") })
        #expect(try await mdt.listxattr(file.fid, credentials: .root).contains("trusted.x"))
        _ = try await mdt.removexattr(file.fid, name: "user.color", credentials: user1)
        await expectErrno(ENODATA) { _ = try await mdt.getxattr(file.fid, name: "user.color", credentials: user1) }
        await expectErrno(ENODATA) { _ = try await mdt.removexattr(file.fid, name: "user.color", credentials: user1) }
        await mdt.close()
    }
}
