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
        let before = try await allocate(first, files: 1...40)
        let lastBefore = first.lastObjectIDs
        await first.stop()
        // lov_objid holds the last id handed out per OST.
        let stored = try LODObjectIDFile.read(root: fixture.mdtRoot)
        XCTAssertEqual(stored.count, 2)
        XCTAssertEqual(stored[0], lastBefore[0])
        XCTAssertEqual(stored[1], lastBefore[1])

        let second = try await fixture.startLOD()
        let after = try await allocate(second, files: 41...80)
        XCTAssertEqual(Set(before + after).count, before.count + after.count, "an object id was handed out twice")
        // The objects precreated before the restart are handed out next, not left as orphans.
        for index: UInt32 in [0, 1] {
            let next = after.filter { $0.ostIndex == index }.map(\.id.objectID).min()
            XCTAssertEqual(next, lastBefore[index]! + 1, "OST\(index) skipped precreated objects")
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
        await first.crash()

        let second = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs", options: {
            var options = LODDevice.Options()
            options.qosMaxAge = 0.5
            options.createTimeout = 10
            return options
        }())
        for index in 0..<2 { try second.addOST(index: UInt32(index), nids: [LODOSSFixture.ossNIDs[index]]) }
        try await second.start()
        second.noteInUse(loggedLate)                // the MDT's replay: only records after the checkpoint
        await second.replayFinished()
        let lost = lostEarly + lostLate
        await lodWait(20, "the objects of creates never logged destroyed") {
            lost.allSatisfy { !fixture.objectExists($0.id, on: Int($0.ostIndex)) }
        }
        for object in loggedEarly + loggedLate {
            XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) in use was destroyed")
        }
        let after = try await allocate(second, files: 21...30, stripes: 2)
        second.noteLogged(after)
        let everything = loggedEarly + lost + loggedLate + after
        XCTAssertEqual(Set(everything).count, everything.count, "an object id was handed out twice")
        await second.stop()
        XCTAssertFalse(FileManager.default.fileExists(atPath: fixture.mdtRoot + "/" + LODUnloggedObjectsFile.name))
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
        pool.add(5...20, adoptEarlier: false)
        XCTAssertEqual(pool.take(), 11)
        XCTAssertEqual(pool.lastUsed, 11)
        pool.noteInUse(15)
        XCTAssertEqual(pool.take(), 16)
        XCTAssertEqual(pool.available, 4)
        pool.add(21...24, adoptEarlier: false)
        XCTAssertEqual(pool.available, 8)
        XCTAssertEqual(pool.lastPrecreated, 24)
    }

    func testFirstRangeAdoptsObjectsPrecreatedBeforeARestart() {
        var pool = OSPPrecreatePool(lastUsed: 100)
        pool.add(161...161, adoptEarlier: true)   // the OST's LAST_ID was 160
        XCTAssertEqual(pool.take(), 101)
        XCTAssertEqual(pool.available, 60)
        var fresh = OSPPrecreatePool(lastUsed: 0)
        fresh.add(161...170, adoptEarlier: false)   // someone else's objects below: not ours
        XCTAssertEqual(fresh.take(), 161)
    }

    /// A replayed create takes back the objects it names unless they were handed out since.
    func testClaimTakesIdsNotHandedOutAndRefusesTheOthers() {
        var pool = OSPPrecreatePool(lastUsed: 100)
        pool.add(161...161, adoptEarlier: true)
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
        XCTAssertTrue(pool.claim(101), "below the first claim: skipped by it")
        XCTAssertFalse(pool.claim(101))
        XCTAssertFalse(pool.claim(100), "at or below lastUsed at start: in use")
    }

    func testGapsAfterSynchronizationAreAdopted() {
        var pool = OSPPrecreatePool(lastUsed: 0)
        pool.add(1...10, adoptEarlier: false)
        pool.add(21...30, adoptEarlier: false)    // 11...20 precreated by a request whose reply was lost
        XCTAssertEqual(pool.available, 30)
        var taken: [UInt64] = []
        while let id = pool.take() { taken.append(id) }
        XCTAssertEqual(taken, Array(1...30))
    }
}
