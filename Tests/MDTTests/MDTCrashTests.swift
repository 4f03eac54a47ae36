#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import ObdClass
import Synchronization
import Testing
@testable import MDT

@Suite("MDT crash consistency")
struct MDTCrashTests {
    @Test("FIDs are never handed out twice: across a clean restart and across a crash")
    func fidUniqueness() async throws {
        let scratch = MDTScratch()
        var fids: Set<LustreFID> = []
        var mdt = try await scratch.open()
        for i in 0..<20 { fids.insert(try await mdt.mkfile(mdt.rootFID, "a\(i)").fid) }
        await mdt.close()
        mdt = try await scratch.open()
        for i in 0..<20 { fids.insert(try await mdt.mkfile(mdt.rootFID, "b\(i)").fid) }
        mdt.simulateCrash()
        mdt = try await scratch.open()
        for i in 0..<20 { fids.insert(try await mdt.mkfile(mdt.rootFID, "c\(i)").fid) }
        #expect(fids.count == 60)
        #expect(Set(fids.map(\.sequence)).count == 3, "each start takes a fresh sequence")
        await mdt.close()
    }

    @Test("a client's FIDs: from a sequence granted to it and in use nowhere; the same create made again is answered; no grant repeats, crash or not")
    func clientChosenFIDs() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let (sequence, width) = try mdt.grantSequence()
        #expect(width == 0x20000)
        let own = try await mdt.mkfile(root, "own").fid
        #expect(own.sequence != sequence)
        func create(_ name: String, _ fid: LustreFID, kind: MDTCreateKind = .file, mode: UInt32 = 0o644)
            async throws(LustreError) -> (attributes: MDTAttributes, layout: LustreLayout?, transno: UInt64, created: Bool) {
            try await mdt.create(parent: root, name: name, kind: kind, mode: mode, credentials: .root, layout: nil,
                                 exclusive: true, fid: fid)
        }
        let chosen = LustreFID(sequence: sequence, objectID: 1)
        let made = try await create("f", chosen)
        #expect(made.attributes.fid == chosen && made.created && made.transno > 0)
        #expect(made.layout?.fid == chosen, "the objects belong to the client's FID")
        #expect(try await mdt.getattr(chosen).fid == chosen)
        // The same create again (a replay of one the MDT kept): what is there, nothing new.
        let again = try await create("f", chosen)
        #expect(again.attributes.fid == chosen && !again.created && again.transno == 0)
        await expectErrno(EEXIST, "a FID in use, under another name") { _ = try await create("g", chosen) }
        for bad in [LustreFID(sequence: own.sequence, objectID: 999), LustreFID(sequence: sequence + 1000, objectID: 1),
                    LustreFID(sequence: sequence, objectID: width + 1), LustreFID(sequence: sequence, objectID: 2, version: 1),
                    LustreFID(sequence: sequence + 1 + MDTFIDSequencer.restoredGrantWindow * 2, objectID: 1)] {
            await expectErrno(EINVAL, "\(bad): not of a granted sequence") { _ = try await create("bad", bad) }
        }
        // A sequence a client shows above the mark (granted before a restore from an older
        // backup) is never granted after; a stray far beyond moves nothing.
        let afterShown = try mdt.grantSequence().sequence
        #expect(afterShown == sequence + 1001)
        let dir = try await create("d", LustreFID(sequence: sequence, objectID: 2), kind: .directory, mode: 0o755)
        #expect(dir.attributes.fid == LustreFID(sequence: sequence, objectID: 2) && dir.attributes.isDirectory)
        let link = try await create("l", LustreFID(sequence: sequence, objectID: 3), kind: .symlink(target: "f"))
        #expect(link.attributes.fid.objectID == 3)

        // Grants outlive restarts and crashes: never a sequence given before or taken by the MDT.
        var sequences: Set<UInt64> = [sequence, own.sequence, afterShown]
        await mdt.close()
        mdt = try await scratch.open()
        sequences.insert(try mdt.grantSequence().sequence)
        let beforeCrash = try await mdt.create(parent: root, name: "kept", kind: .file, mode: 0o644, credentials: .root,
                                               layout: nil, exclusive: true, fid: LustreFID(sequence: sequence, objectID: 4))
        mdt.simulateCrash()
        mdt = try await scratch.open()
        sequences.insert(try mdt.grantSequence().sequence)
        sequences.insert(try await mdt.mkfile(root, "own2").fid.sequence)
        #expect(sequences.count == 6)
        // A client keeps its sequence across MDS restarts: its files and its next FIDs stay its own.
        #expect(try await mdt.getattr(beforeCrash.attributes.fid).fid == LustreFID(sequence: sequence, objectID: 4))
        #expect(try await mdt.create(parent: root, name: "later", kind: .file, mode: 0o644, credentials: .root, layout: nil,
                                     exclusive: true, fid: LustreFID(sequence: sequence, objectID: 5)).created)
        await mdt.close()
        #expect(try MDTChecker.check(root: scratch.path).isClean)
    }

    @Test("a replayed create under a client's FID takes back the objects it names, or gets new ones if they went elsewhere")
    func replayedCreateTakesBackItsObjects() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let (sequence, _) = try mdt.grantSequence()
        var given = LustreLayout(stripeSize: 1 << 20, stripeCount: 2)
        given.objects = [LayoutObject(ostIndex: 1, id: OSTObjectID(objectID: 500)),
                         LayoutObject(ostIndex: 2, id: OSTObjectID(objectID: 501))]
        let first = LustreFID(sequence: sequence, objectID: 1)
        let made = try await mdt.create(parent: root, name: "kept", kind: .file, mode: 0o644, credentials: .root,
                                        layout: nil, exclusive: true, fid: first, replayLayout: given)
        #expect(made.layout?.objects == given.objects && made.layout?.fid == first)
        #expect(scratch.allocator.calls.withLock { $0.claimed } == given.objects)
        #expect(scratch.allocator.calls.withLock { $0.allocated[first] } == nil, "nothing allocated")
        #expect(try await mdt.layout(of: first)?.objects == given.objects)
        // Objects handed out to another file since: new ones, never shared.
        scratch.allocator.claimable.withLock { $0 = false }
        let second = LustreFID(sequence: sequence, objectID: 2)
        let again = try await mdt.create(parent: root, name: "moved", kind: .file, mode: 0o644, credentials: .root,
                                         layout: nil, exclusive: true, fid: second, replayLayout: given)
        let fresh = try #require(scratch.allocator.calls.withLock { $0.allocated[second] })
        #expect(again.layout?.objects == fresh && fresh != given.objects)
        // Without a client FID the layout is not taken: the MDT could not tell the create apart.
        scratch.allocator.claimable.withLock { $0 = true }
        let plain = try await mdt.create(parent: root, name: "plain", kind: .file, mode: 0o644, credentials: .root,
                                         layout: nil, exclusive: true, replayLayout: given)
        #expect(plain.layout?.objects != given.objects)
        #expect(scratch.allocator.calls.withLock { $0.claimed }.count == 2)
        await mdt.close()
    }

    @Test("transnos keep growing across restarts; sync commits and fires the callbacks")
    func transnosAndCommit() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let seen = Mutex<UInt64>(0)
        mdt.addCommitCallback { value in seen.withLock { $0 = max($0, value) } }
        let transno = try await mdt.create(parent: mdt.rootFID, name: "f", kind: .file, mode: 0o644, credentials: .root,
                                           layout: nil, exclusive: true).transno
        #expect(mdt.lastCommitted < transno)
        #expect(try await mdt.sync() >= transno)
        #expect(seen.withLock { $0 } >= transno)
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(mdt.lastCommitted >= transno)
        let next = try await mdt.unlink(parent: mdt.rootFID, name: "f", credentials: .root)
        #expect(next > transno)
        await mdt.close()
        mdt = try await scratch.open()
        #expect(try await mdt.mkdir(mdt.rootFID, "d").fid != .zero)
        #expect(mdt.lastCommitted >= next)
        await mdt.close()
    }

    @Test("an operation logged but not applied when the MDS dies is completed by replay", arguments: [
        "create", "mkdir", "symlink", "unlink", "rmdir", "rename", "renameOver", "link", "setattr", "setxattr",
    ])
    func replayCompletesLoggedOperation(operation: String) async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let dir = try await mdt.mkdir(root, "d")
        let file = try await mdt.mkfile(root, "f")
        let other = try await mdt.mkfile(dir.fid, "other")
        _ = try await mdt.mkdir(root, "empty")
        _ = try await mdt.sync()
        mdt.failAfterLogAppend.store(true, ordering: .releasing)
        await expectErrno(EIO, operation) {
            switch operation {
            case "create": try await mdt.mkfile(dir.fid, "new")
            case "mkdir": try await mdt.mkdir(dir.fid, "new")
            case "symlink":
                _ = try await mdt.create(parent: dir.fid, name: "new", kind: .symlink(target: "f"), mode: 0,
                                         credentials: .root, layout: nil, exclusive: true)
            case "unlink": _ = try await mdt.unlink(parent: root, name: "f", credentials: .root)
            case "rmdir": _ = try await mdt.rmdir(parent: root, name: "empty", credentials: .root)
            case "rename": _ = try await mdt.rename(from: root, name: "f", to: dir.fid, newName: "new", credentials: .root)
            case "renameOver": _ = try await mdt.rename(from: root, name: "f", to: dir.fid, newName: "other", credentials: .root)
            case "link": _ = try await mdt.link(file.fid, parent: dir.fid, name: "new", credentials: .root)
            case "setattr": _ = try await mdt.setattr(file.fid, MDTSetattr(valid: .mode, mode: 0o600), credentials: .root)
            default: _ = try await mdt.setxattr(file.fid, name: "user.k", value: [9], flags: 0, credentials: .root)
            }
        }
        mdt.simulateCrash()
        mdt = try await scratch.open()
        let lookupNew = { () async throws -> MDTAttributes in
            try await mdt.lookup(parent: dir.fid, name: "new", credentials: .root)
        }
        switch operation {
        case "create":
            let created = try await lookupNew()
            #expect(created.isRegular)
            #expect(scratch.allocator.destroyed(created.fid) == nil, "objects of a logged create are kept")
            #expect(try await mdt.layout(of: created.fid)?.objects == scratch.allocator.calls.withLock { $0.allocated[created.fid] })
        case "mkdir": #expect(try await lookupNew().isDirectory)
        case "symlink": #expect(try await mdt.readlink(try await lookupNew().fid, credentials: .root) == "f")
        case "unlink":
            await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "f", credentials: .root) }
            #expect(scratch.allocator.destroyed(file.fid)?.count == 1)
        case "rmdir": await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "empty", credentials: .root) }
        case "rename":
            #expect(try await lookupNew().fid == file.fid)
            await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: root, name: "f", credentials: .root) }
            #expect(try await mdt.fid2path(file.fid) == "d/new")
        case "renameOver":
            #expect(try await mdt.lookup(parent: dir.fid, name: "other", credentials: .root).fid == file.fid)
            #expect(scratch.allocator.destroyed(other.fid)?.count == 1)
        case "link":
            #expect(try await lookupNew().fid == file.fid)
            #expect(try await mdt.getattr(file.fid).nlink == 2)
        case "setattr": #expect(try await mdt.getattr(file.fid).mode & 0o7777 == 0o600)
        default: #expect(try await mdt.getxattr(file.fid, name: "user.k", credentials: .root) == [9])
        }
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("replaying a whole log over a tree that holds all its effects converges on the same namespace")
    func replayOverLaterEffects() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let d1 = try await mdt.mkdir(root, "d")
        let x = try await mdt.mkfile(d1.fid, "x")
        _ = try await mdt.rename(from: root, name: "d", to: root, newName: "e", credentials: .root)
        let d2 = try await mdt.mkdir(root, "d")
        _ = try await mdt.rename(from: d1.fid, name: "x", to: d2.fid, newName: "x", credentials: .root)
        _ = try await mdt.rmdir(parent: root, name: "e", credentials: .root)
        _ = try await mdt.link(x.fid, parent: root, name: "y", credentials: .root)
        _ = try await mdt.unlink(parent: d2.fid, name: "x", credentials: .root)
        let a1 = try await mdt.mkfile(root, "a")
        _ = try await mdt.unlink(parent: root, name: "a", credentials: .root)
        let a2 = try await mdt.mkfile(root, "a")
        _ = try await mdt.mkdir(d2.fid, "sub")
        _ = try await mdt.rename(from: d2.fid, name: "sub", to: root, newName: "sub", credentials: .root)
        let before = try await snapshot(mdt)
        mdt.simulateCrash()
        mdt = try await scratch.open()
        let after = try await snapshot(mdt)
        #expect(after == before)
        #expect(after["a"] == a2.fid && after["y"] == x.fid && after["d"] == d2.fid && after["e"] == nil)
        #expect(scratch.allocator.destroyed(a1.fid) != nil && scratch.allocator.destroyed(x.fid) == nil)
        #expect(try await mdt.fid2path(x.fid) == "y")
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.files[x.fid] == "y" && report.layouts[a2.fid]?.objects.count == 1)
    }

    @Test("a committed unlink of a name a rename had overwritten stays done after a crash")
    func replayKeepsUnlinkAfterRenameOver() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let d = try await mdt.mkdir(root, "d")
        let g = try await mdt.mkfile(root, "y")
        // G's create is checkpointed away: replay cannot bring G back.
        await mdt.close()
        mdt = try await scratch.open()
        let f = try await mdt.mkfile(d.fid, "x")
        _ = try await mdt.rename(from: root, name: "y", to: d.fid, newName: "x", credentials: .root)
        _ = try await mdt.unlink(parent: d.fid, name: "x", credentials: .root)
        _ = try await mdt.sync()
        mdt.simulateCrash()
        mdt = try await scratch.open()
        await expectErrno(ENOENT) { _ = try await mdt.lookup(parent: d.fid, name: "x", credentials: .root) }
        #expect(try await mdt.names(d.fid).isEmpty)
        #expect(try await mdt.names(root) == ["d"])
        #expect(scratch.allocator.destroyed(f.fid) != nil && scratch.allocator.destroyed(g.fid) != nil)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("a directory renamed into a directory removed later stays gone after a crash")
    func replayRenameIntoRemovedParent() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let parent = try await mdt.mkdir(root, "p")
        // P's create is checkpointed away: replay never has P, so the rename into it finds no target.
        await mdt.close()
        mdt = try await scratch.open()
        let moved = try await mdt.mkdir(root, "d")
        let file = try await mdt.mkfile(root, "f")
        _ = try await mdt.rename(from: root, name: "d", to: parent.fid, newName: "d", credentials: .root)
        _ = try await mdt.rename(from: root, name: "f", to: parent.fid, newName: "f", credentials: .root)
        _ = try await mdt.rmdir(parent: parent.fid, name: "d", credentials: .root)
        _ = try await mdt.unlink(parent: parent.fid, name: "f", credentials: .root)
        _ = try await mdt.rmdir(parent: root, name: "p", credentials: .root)
        _ = try await mdt.sync()
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await mdt.names(root).isEmpty, "the moved directory and file came back at their old names")
        await expectErrno(ENOENT) { _ = try await mdt.fid2path(moved.fid) }
        #expect(scratch.allocator.destroyed(file.fid) != nil)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("a replayed rmdir of a directory something was left in still removes it")
    func replayRmdirOfLeftNonEmptyDirectory() async throws {
        let scratch = MDTScratch()
        let mdt = try await scratch.open()
        let root = mdt.rootFID
        let directory = try await mdt.mkdir(root, "d")
        let file = try await mdt.mkfile(directory.fid, "x")
        // As if a record moving x out had not applied: the rmdir's replay meets x still inside.
        let rmdir = MDTUnlinkRecord(parent: root, name: "d", fid: directory.fid, isDirectory: true, links: [],
                                    disposition: .destroy, objects: [])
        // Replay logs a record that fails and goes on; so does this (the leftovers are cleared after).
        _ = try? mdt.tree.apply(.unlink(rmdir), live: false)
        _ = try mdt.tree.clearReplayLeftovers()
        #expect(try await mdt.names(root).isEmpty, "the removed directory came back at its old name")
        await expectErrno(ENOENT) { _ = try await mdt.fid2path(directory.fid) }
        await expectErrno(ENOENT) { _ = try await mdt.fid2path(file.fid) }
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("start-up after a replay leaves no REPLAY/ leftovers, stale OI records or wrong link xattrs")
    func repairAfterReplay() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let kept = try await mdt.mkfile(root, "kept")
        _ = try await mdt.link(kept.fid, parent: root, name: "kept2", credentials: .root)
        let gone = try await mdt.mkfile(root, "gone")
        try await mdt.mkfile(root, "stale")
        await mdt.close()
        // Damage of the kinds a crash in the middle of a replay leaves: a leftover in REPLAY/,
        // a stale OI record, and a link xattr naming a name that is not there.
        #expect(rename(scratch.path + "/ROOT/gone", scratch.path + "/REPLAY/" + MDTObjectIndex.recordName(gone.fid)) == 0)
        #expect(unlink(scratch.path + "/ROOT/kept2") == 0)
        #expect(unlink(scratch.path + "/ROOT/stale") == 0)
        #expect(try MDTChecker.check(root: scratch.path).problems.count >= 3)
        // The next start that replays a record repairs. The leftover's name has been taken
        // meanwhile, so it cannot go back there and is removed with its objects.
        mdt = try await scratch.open()
        let taken = try await mdt.mkfile(root, "gone")
        _ = try await mdt.mkdir(root, "z")
        _ = try await mdt.sync()
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await mdt.names(root).sorted() == ["gone", "kept", "z"])
        #expect(try await mdt.lookup(parent: root, name: "gone", credentials: .root).fid == taken.fid)
        #expect(scratch.allocator.destroyed(gone.fid) != nil)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("an inode a replay held in REPLAY/ goes back to the name its link xattr gives when that name is free")
    func replayLeftoverGoesBack() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        let file = try await mdt.mkfile(root, "f")
        let dir = try await mdt.mkdir(root, "d")
        await mdt.close()
        #expect(rename(scratch.path + "/ROOT/f", scratch.path + "/REPLAY/" + MDTObjectIndex.recordName(file.fid)) == 0)
        #expect(rename(scratch.path + "/ROOT/d", scratch.path + "/REPLAY/" + MDTObjectIndex.recordName(dir.fid)) == 0)
        mdt = try await scratch.open()
        _ = try await mdt.mkdir(root, "z")
        _ = try await mdt.sync()
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await mdt.names(root).sorted() == ["d", "f", "z"])
        #expect(scratch.allocator.destroyed(file.fid) == nil)
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "\(report.problems)")
    }

    @Test("a torn record at the end of the log is cut off; the records before it replay")
    func tornTail() async throws {
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        try await mdt.mkfile(mdt.rootFID, "kept")
        mdt.simulateCrash()
        let fd = open(scratch.path + "/mdt_log", O_WRONLY | O_APPEND)
        #expect(fd >= 0)
        let garbage: [UInt8] = [200, 0, 0, 0, 1, 2, 3, 4, 5]
        _ = garbage.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        mdt = try await scratch.open()
        #expect(try await mdt.lookup(parent: mdt.rootFID, name: "kept", credentials: .root).isRegular)
        try await mdt.mkfile(mdt.rootFID, "after")
        mdt.simulateCrash()
        mdt = try await scratch.open()
        #expect(try await mdt.lookup(parent: mdt.rootFID, name: "after", credentials: .root).isRegular)
        await mdt.close()
    }
}
