import LNet
import LibCFS
@testable import MDT
import ObdClass
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `lov_objid` and the precreated pool: no object id is ever handed out twice, across clean
/// restarts and crashes, and objects precreated before a restart are used, not orphaned.
final class LODObjectIDTests: XCTestCase {
    private func allocate(_ lod: LODDevice, files: ClosedRange<UInt32>, stripes: UInt16 = 1) async throws -> [LayoutObject] {
        var objects: [LayoutObject] = []
        for n in files { objects += try await lod.allocate(for: lodFID(n), layout: lodLayout(count: stripes)).objects }
        return objects
    }

    func testNoIDHandedOutTwiceAcrossStopAndStart() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        await first.replayFinished()
        let before = try await allocate(first, files: 1...40)
        first.noteLogged(before)                    // their files are in the MDT's log
        let lastBefore = first.lastObjectIDs
        await first.stop()
        // lov_objid holds the last id handed out per OST.
        let stored = try LODObjectIDFile.read(root: fixture.mdtRoot)
        XCTAssertEqual(stored.count, 2)
        XCTAssertEqual(stored[0], lastBefore[0])
        XCTAssertEqual(stored[1], lastBefore[1])
        let precreated = (0..<2).map { index in
            ((lastBefore[UInt32(index)]! + 1)...).prefix { fixture.objectExists(OSTObjectID(sequence: OSTObjectID.mdt0Sequence, objectID: $0), on: index) }
        }
        XCTAssertFalse(precreated[0].isEmpty, "no objects precreated beyond those handed out")

        let second = try await fixture.startLOD { $0.replayClaimGrace = 0.5 }
        await second.replayFinished()
        let after = try await allocate(second, files: 41...80)
        second.noteLogged(after)
        XCTAssertEqual(Set(before + after).count, before.count + after.count, "an object id was handed out twice")
        // The objects precreated before the restart are not handed out to new files (one of
        // them could be a lost create's, with its data): claimable for a while, then destroyed.
        for index: UInt32 in [0, 1] {
            let next = after.filter { $0.ostIndex == index }.map(\.id.objectID).min()!
            XCTAssertGreaterThan(next, precreated[Int(index)].last ?? lastBefore[index]!, "OST\(index) handed out an earlier object")
        }
        await lodWait(20, "objects precreated before the restart destroyed") {
            precreated.enumerated().allSatisfy { index, ids in
                ids.allSatisfy { !fixture.objectExists(OSTObjectID(sequence: OSTObjectID.mdt0Sequence, objectID: $0), on: index) }
            }
        }
        for object in before + after {
            XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) in use was destroyed")
        }
        await second.stop()
    }

    func testCrashWithReplayedObjectsNeverReusesIDs() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        let checkpointed = try await allocate(first, files: 1...10, stripes: 2)
        try await first.checkpoint()
        let afterCheckpoint = try await allocate(first, files: 11...20, stripes: 2)
        await first.crash()
        // lov_objid is behind: the MDT's log replay reports what it saw in use.
        let stored = try LODObjectIDFile.read(root: fixture.mdtRoot)
        XCTAssertLessThan(stored[0], afterCheckpoint.filter { $0.ostIndex == 0 }.map(\.id.objectID).max()!)

        let second = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs", options: {
            var options = LODDevice.Options()
            options.qosMaxAge = 0.5
            options.createTimeout = 10
            return options
        }())
        second.noteInUse(afterCheckpoint)           // before the OSTs are added, as a replay may
        for index in 0..<2 { try second.addOST(index: UInt32(index), nids: [LODOSSFixture.ossNIDs[index]]) }
        try await second.start()
        let after = try await allocate(second, files: 21...40, stripes: 2)
        let everything = checkpointed + afterCheckpoint + after
        XCTAssertEqual(Set(everything).count, everything.count, "an object id was handed out twice")
        for index: UInt32 in [0, 1] {
            let replayedMax = afterCheckpoint.filter { $0.ostIndex == index }.map(\.id.objectID).max()!
            XCTAssertGreaterThan(after.filter { $0.ostIndex == index }.map(\.id.objectID).min()!, replayedMax)
        }
        await second.stop()
    }

    func testObjectsOfCreatesNeverLoggedAreDestroyedAfterACrash() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        await first.replayFinished()                // the MDT's (empty) replay
        let loggedEarly = try await allocate(first, files: 1...5, stripes: 2)
        first.noteLogged(loggedEarly)
        let lostEarly = try await allocate(first, files: 6...8, stripes: 2)     // unlogged at the checkpoint
        try await first.checkpoint()
        let lostLate = try await allocate(first, files: 9...12, stripes: 2)     // handed out after it, never logged
        let loggedLate = try await allocate(first, files: 13...15, stripes: 2)
        first.noteLogged(loggedLate)
        let lostLast = try await allocate(first, files: 16...18, stripes: 2)    // above all the log names
        await first.crash()

        let second = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs", options: {
            var options = LODDevice.Options()
            options.qosMaxAge = 0.5
            options.createTimeout = 10
            options.replayClaimGrace = 1
            return options
        }())
        for index in 0..<2 { try second.addOST(index: UInt32(index), nids: [LODOSSFixture.ossNIDs[index]]) }
        try await second.start()
        second.noteInUse(loggedLate)                // the MDT's replay: only records after the checkpoint
        await second.replayFinished()
        // New files never get the objects of lost creates (a client may have written there).
        let fresh = try await allocate(second, files: 19...22, stripes: 2)
        XCTAssertTrue(Set(fresh).isDisjoint(with: lostEarly + lostLate + lostLast), "a lost create's object handed out again")
        let lost = lostEarly + lostLate + lostLast
        await lodWait(20, "the objects of creates never logged destroyed") {
            lost.allSatisfy { !fixture.objectExists($0.id, on: Int($0.ostIndex)) }
        }
        for object in loggedEarly + loggedLate + fresh {
            XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) in use was destroyed")
        }
        let after = try await allocate(second, files: 23...30, stripes: 2)
        second.noteLogged(fresh + after)
        let everything = loggedEarly + lost + loggedLate + fresh + after
        XCTAssertEqual(Set(everything).count, everything.count, "an object id was handed out twice")
        await second.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.mdtRoot + "/" + LODUnloggedObjectsFile.name))
    }

    /// A client replaying a create the MDT lost takes its objects back within the grace, with
    /// what it wrote there; the objects no replay claims are destroyed after it.
    func testAReplayWithinTheGraceTakesBackItsObjects() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        await first.replayFinished()
        let logged = try await allocate(first, files: 1...3, stripes: 2)
        first.noteLogged(logged)
        try await first.checkpoint()
        let replayed = try await allocate(first, files: 4...4, stripes: 2)    // its client replays it
        let unclaimed = try await allocate(first, files: 5...6, stripes: 2)   // their clients are gone
        await first.crash()

        let second = try await fixture.startLOD { $0.replayClaimGrace = 2 }
        await second.replayFinished()
        let fresh = try await allocate(second, files: 7...8, stripes: 2)
        XCTAssertTrue(Set(fresh).isDisjoint(with: replayed + unclaimed), "an object of a lost create handed out again")
        XCTAssertTrue(second.claim(replayed), "the replayed create did not get its objects back")
        XCTAssertFalse(second.claim(replayed), "claimed twice")
        // A replay whose second object went to a new file gets none: its first is given back.
        XCTAssertFalse(second.claim([unclaimed[0], fresh[0]]))
        second.noteLogged(replayed + fresh)
        await lodWait(20, "the unclaimed objects destroyed") {
            unclaimed.allSatisfy { !fixture.objectExists($0.id, on: Int($0.ostIndex)) }
        }
        for object in logged + replayed + fresh {
            XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) in use was destroyed")
        }
        XCTAssertFalse(second.claim(unclaimed), "claimed after the grace")
        await second.stop()
    }

    func testPoolGrowsItsBatchUnderDemand() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD { $0.precreateMinBatch = 8 }
        _ = try await allocate(lod, files: 1...300)
        let name = "osp.testfs-OST0000-osc-MDT0000.create_count"
        let count = try Int(ParamTree.shared.get(name).first?.value ?? "") ?? 0
        XCTAssertGreaterThan(count, 8, "precreate batch did not grow")
        await lod.stop()
    }
}

/// The pool's bookkeeping alone.
final class OSPPrecreatePoolTests: XCTestCase {
    func testTakesInOrderAndNeverBelowLastUsed() {
        var pool = OSPPrecreatePool(lastUsed: 10)
        XCTAssertNil(pool.take())
        pool.add(5...20, earlierAreOurs: false)
        XCTAssertEqual(pool.take(), 11)
        XCTAssertEqual(pool.lastUsed, 11)
        pool.noteInUse(15)
        XCTAssertEqual(pool.take(), 16)
        XCTAssertEqual(pool.available, 4)
        pool.add(21...24, earlierAreOurs: false)
        XCTAssertEqual(pool.available, 8)
        XCTAssertEqual(pool.lastPrecreated, 24)
    }

    /// Objects precreated before a restart may be a lost create's, with its data: replays may
    /// claim them, new files never get them, and the rest is the caller's to destroy.
    func testObjectsPrecreatedBeforeARestartAreOnlyClaimable() {
        var pool = OSPPrecreatePool(lastUsed: 100)
        pool.add(161...161, earlierAreOurs: true)   // the OST's LAST_ID was 160
        XCTAssertEqual(pool.take(), 161)
        XCTAssertEqual(pool.claimable, [101...160])
        pool.noteInUse(120)                          // the MDT's replay, after the first precreate
        XCTAssertFalse(pool.claim(120), "in use: a file the MDT's log has")
        XCTAssertTrue(pool.claim(130))
        XCTAssertFalse(pool.claim(130), "claimed once")
        let expired = pool.expireClaimable()
        XCTAssertEqual(expired.sorted { $0.lowerBound < $1.lowerBound }, [101...119, 121...129, 131...160])
        XCTAssertFalse(pool.claim(140), "the time for replays is over")
        // Until their destroys are logged they stay listed for a next start to reconcile.
        XCTAssertEqual(pool.unreconciled.count, 3)
        pool.expired(expired)
        XCTAssertEqual(pool.unreconciled, [])
        XCTAssertNil(pool.take())
        var fresh = OSPPrecreatePool(lastUsed: 0)
        fresh.add(161...170, earlierAreOurs: false)   // someone else's objects below: not ours
        XCTAssertEqual(fresh.take(), 161)
        XCTAssertEqual(fresh.claimable, [])
    }

    /// A replayed create takes back the objects it names unless they were handed out since.
    func testClaimTakesIdsNotHandedOutAndRefusesTheOthers() {
        var pool = OSPPrecreatePool(lastUsed: 100)
        pool.addClaimable(90...95)                   // the MDT's replay found them unused
        pool.add(101...200, earlierAreOurs: true)
        XCTAssertTrue(pool.claim(93))
        XCTAssertFalse(pool.claim(96), "at or below lastUsed at start, not claimable: in use")
        XCTAssertTrue(pool.claim(103), "never handed out since the restart")
        XCTAssertEqual(pool.take(), 104, "a claimed id is not handed out again")
        XCTAssertFalse(pool.claim(104), "handed out to another file")
        XCTAssertTrue(pool.claim(102), "jumped over by the claim of 103, never handed out")
        XCTAssertTrue(pool.claim(110))
        XCTAssertEqual(pool.take(), 111)
        // Replays come in any order: ids a claim jumped over were never handed out.
        XCTAssertTrue(pool.claim(107))
        XCTAssertFalse(pool.claim(107), "claimed once")
        XCTAssertTrue(pool.claim(105))
        XCTAssertTrue(pool.claim(109))
        XCTAssertFalse(pool.claim(111), "handed out")
        XCTAssertTrue(pool.claim(101), "below the first claim: jumped over by it")
        XCTAssertFalse(pool.claim(101))
        XCTAssertFalse(pool.claim(100), "at or below lastUsed at start: in use")
        let rest = pool.expireClaimable().flatMap { Array($0) }.sorted()
        XCTAssertEqual(rest, [90, 91, 92, 94, 95, 106, 108])
    }

    func testGapsAfterSynchronizationAreAdopted() {
        var pool = OSPPrecreatePool(lastUsed: 0)
        pool.add(1...10, earlierAreOurs: false)
        pool.add(21...30, earlierAreOurs: false)    // 11...20 precreated by a request whose reply was lost
        XCTAssertEqual(pool.available, 30)
        var taken: [UInt64] = []
        while let id = pool.take() { taken.append(id) }
        XCTAssertEqual(taken, Array(1...30))
    }
}
