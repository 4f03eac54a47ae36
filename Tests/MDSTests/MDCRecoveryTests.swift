import Foundation
import LNet
import LibCFS
import MDC
import NIOCore
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The MDC through MDS restarts: it reconnects by itself, and what the MDS acknowledged is there
/// afterwards (committed, or replayed by the client).
final class MDCRecoveryTests: XCTestCase {
    func testClientReconnectsAfterACleanMDSRestart() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (dir, _) = try await mdc.create(parent: root, name: "before", kind: .directory, mode: 0o755,
                                            credentials: .root, layout: nil, exclusive: true)
        await fixture.stopMDS()
        try await fixture.startMDS()
        let found = try await mdc.lookup(parent: root, name: "before", credentials: .root)
        XCTAssertEqual(found.0.fid, dir.fid, "the FID survives a restart")
        _ = try await mdc.create(parent: root, name: "after", kind: .directory, mode: 0o755, credentials: .root,
                                 layout: nil, exclusive: true)
        XCTAssertEqual(mdc.rpcImport.status, .full)
    }

    /// Each client creates its files under FIDs of a sequence the MDS granted it alone (Lustre's
    /// FID client), and asks for a new one after an MDS restart (Lustre's `seq_client_flush`):
    /// never one granted before.
    func testCreatesTakeFIDsFromTheClientsOwnSequence() async throws {
        let fixture = try await makeMDS()
        let first = try await fixture.mdc(), second = try await fixture.mdc(client: 1)
        let root = try await first.getRoot()
        XCTAssertEqual(first.fidSequence, 0, "no sequence before the first create")
        let (a, _) = try await first.create(parent: root, name: "a", kind: .directory, mode: 0o755, credentials: .root,
                                            layout: nil, exclusive: true)
        let (b, _, _) = try await first.createOpen(parent: root, name: "b", mode: 0o644, credentials: .root, layout: nil,
                                                   exclusive: true, openFlags: O_WRONLY)
        let (c, _) = try await second.create(parent: root, name: "c", kind: .symlink(target: "a"), mode: 0o777,
                                             credentials: .root, layout: nil, exclusive: true)
        XCTAssertNotEqual(first.fidSequence, 0)
        XCTAssertEqual([a.fid, b.fid], [LustreFID(sequence: first.fidSequence, objectID: 1),
                                        LustreFID(sequence: first.fidSequence, objectID: 2)])
        XCTAssertEqual(c.fid, LustreFID(sequence: second.fidSequence, objectID: 1))
        XCTAssertNotEqual(first.fidSequence, second.fidSequence, "each client has a sequence of its own")
        XCTAssertEqual(try ParamTree.shared.get("seq.cli-\(first.name).fid").map(\.value), ["\(b.fid)"])
        let sequence = first.fidSequence
        await fixture.crashMDS()
        try await fixture.startMDS()
        let (d, _) = try await first.create(parent: root, name: "d", kind: .directory, mode: 0o755, credentials: .root,
                                            layout: nil, exclusive: true)
        // Its FID was taken before the client learnt of the restart (an MDS that was not
        // restored from a backup knows the sequence); the next create's is of a new one.
        XCTAssertEqual(d.fid, LustreFID(sequence: sequence, objectID: 3))
        let (e, _) = try await first.create(parent: root, name: "e", kind: .directory, mode: 0o755, credentials: .root,
                                            layout: nil, exclusive: true)
        XCTAssertNotEqual(first.fidSequence, sequence, "a new sequence after the restart")
        XCTAssertNotEqual(first.fidSequence, second.fidSequence)
        XCTAssertEqual(e.fid, LustreFID(sequence: first.fidSequence, objectID: 1))
        for (name, fid) in [("a", a.fid), ("b", b.fid), ("c", c.fid), ("d", d.fid), ("e", e.fid)] {
            let (found, _) = try await second.lookup(parent: root, name: name, credentials: .root)
            XCTAssertEqual(found.fid, fid, name)
        }
    }

    /// An MDT restored from a backup older than a client's grant does not know the client's
    /// sequence: the client's next create, whose FID it took before it learnt of the restart, is
    /// refused as invalid and made again under a sequence the restored MDT grants, never the
    /// one it lost (the refused FID showed it).
    func testCreatesGoOnAfterARestoreFromAnOlderBackup() async throws {
        let fixture = try await makeMDS()
        let seqSrv = "\(fixture.mdtRoot)/seq_srv"
        await fixture.stopMDS()
        let backup = try Data(contentsOf: URL(fileURLWithPath: seqSrv))
        try await fixture.startMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (lost, _) = try await mdc.create(parent: root, name: "lost", kind: .directory, mode: 0o755,
                                             credentials: .root, layout: nil, exclusive: true)
        XCTAssertEqual(lost.fid.sequence, mdc.fidSequence)
        // What the backup has not: the grant, and the file made under it.
        try await mdc.rmdir(parent: root, name: "lost", credentials: .root)
        _ = try await mdc.sync()
        await fixture.stopMDS()
        try backup.write(to: URL(fileURLWithPath: seqSrv))
        try await fixture.startMDS()
        let (made, _, handle) = try await mdc.createOpen(parent: root, name: "made", mode: 0o644, credentials: .root,
                                                         layout: nil, exclusive: true, openFlags: O_WRONLY)
        try await mdc.close(handle: handle, size: nil, blocks: nil)
        XCTAssertEqual(made.fid, LustreFID(sequence: mdc.fidSequence, objectID: 1), "a FID of a new grant")
        XCTAssertNotEqual(made.fid.sequence, lost.fid.sequence, "the restored MDT learnt of the grant it lost")
        let (dir, _) = try await mdc.create(parent: root, name: "dir", kind: .directory, mode: 0o755,
                                            credentials: .root, layout: nil, exclusive: true)
        XCTAssertEqual(dir.fid, LustreFID(sequence: mdc.fidSequence, objectID: 2))
        let other = try await fixture.mdc(client: 1)
        let (theirs, _) = try await other.create(parent: root, name: "theirs", kind: .directory, mode: 0o755,
                                                 credentials: .root, layout: nil, exclusive: true)
        XCTAssertNotEqual(theirs.fid.sequence, made.fid.sequence, "each client has a sequence of its own")
        for (name, fid) in [("made", made.fid), ("dir", dir.fid), ("theirs", theirs.fid)] {
            let (found, _) = try await other.lookup(parent: root, name: name, credentials: .root)
            XCTAssertEqual(found.fid, fid, name)
        }
    }

    func testAcknowledgedCreatesSurviveAnMDSCrash() async throws {
        let fixture = try await makeMDS()
        fixture.commitInterval.withLock { $0 = 30 }
        await fixture.stopMDS()
        try await fixture.startMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        for index in 0..<5 {
            _ = try await mdc.create(parent: root, name: "crash\(index)", kind: .directory, mode: 0o755,
                                     credentials: .root, layout: nil, exclusive: true)
        }
        XCTAssertGreaterThan(mdc.rpcImport.replayCount, 0, "creates not yet committed are kept for replay")
        await fixture.crashMDS()
        fixture.commitInterval.withLock { $0 = 0.2 }
        try await fixture.startMDS()
        for index in 0..<5 {
            let (attributes, _) = try await mdc.lookup(parent: root, name: "crash\(index)", credentials: .root)
            XCTAssertTrue(attributes.isDirectory)
        }
        _ = try await mdc.sync()
        XCTAssertEqual(mdc.rpcImport.replayCount, 0)
    }

    /// Files open across an MDS restart (clean, then crashed) are opened again by the MDC
    /// (Lustre's open replay): a close after it still records the size the client wrote, a
    /// creator's write open of its read-only file included, and a file unlinked while open stays
    /// until its last close, which destroys it and its objects.
    func testOpenFilesAreOpenedAgainAfterAnMDSRestart() async throws {
        let fixture = try await makeMDS()
        let mdc = try await fixture.mdc()
        let root = try await mdc.getRoot()
        let (shared, _) = try await mdc.create(parent: root, name: "shared", kind: .directory, mode: 0o777,
                                               credentials: .root, layout: nil, exclusive: true)
        let user = MDTCredentials(uid: 1000, gid: 1000)
        for crash in [false, true] {
            let (kept, _, keptHandle) = try await mdc.createOpen(parent: shared.fid, name: "kept-\(crash)", mode: 0o444,
                                                                 credentials: user, layout: nil, exclusive: true,
                                                                 openFlags: O_WRONLY)
            let (gone, goneLayout, goneHandle) = try await mdc.createOpen(parent: shared.fid, name: "gone-\(crash)",
                                                                          mode: 0o644, credentials: user, layout: nil,
                                                                          exclusive: true, openFlags: O_RDWR)
            let objects = try XCTUnwrap(goneLayout?.objects)
            XCTAssertFalse(objects.isEmpty)
            try await mdc.unlink(parent: shared.fid, name: "gone-\(crash)", credentials: user)
            _ = try await mdc.sync()
            if crash { await fixture.crashMDS() } else { await fixture.stopMDS() }
            try await fixture.startMDS()
            try await fixture.waitForOSTs(2)
            // With files open, the MDC reconnects (and opens them again) without waiting for a call.
            for _ in 0..<200 where mdc.rpcImport.status != .full { try await Task.sleep(nanoseconds: 50_000_000) }
            XCTAssertEqual(mdc.rpcImport.status, .full, "crash \(crash): reconnected while idle")

            try await mdc.close(handle: keptHandle, size: 12345, blocks: 24)
            let size = try await mdc.getattr(kept.fid, credentials: user).size
            XCTAssertEqual(size, 12345, "crash \(crash): the size told at a close after the restart")
            let orphan = try await mdc.getattr(gone.fid, credentials: user)
            XCTAssertEqual(orphan.fid, gone.fid, "crash \(crash): a file unlinked while open stays while open")
            XCTAssertTrue(objects.allSatisfy { fixture.objectExists($0) })
            try await mdc.close(handle: goneHandle, size: nil, blocks: nil)
            do {
                _ = try await mdc.getattr(gone.fid, credentials: user)
                XCTFail("crash \(crash): the last close destroys a file unlinked while open")
            } catch {
                XCTAssertTrue([ENOENT, ESTALE].contains(error.errno), "\(error)")
            }
            for _ in 0..<100 where objects.contains(where: { fixture.objectExists($0) }) {
                try await Task.sleep(nanoseconds: 50_000_000)
            }
            XCTAssertFalse(objects.contains { fixture.objectExists($0) }, "crash \(crash): its objects are destroyed")
            XCTAssertEqual(mdc.openCount, 0)
        }
    }
}
