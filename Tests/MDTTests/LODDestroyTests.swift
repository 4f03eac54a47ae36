import LNet
import LibCFS
@testable import MDT
import ObdClass
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Destroys through the persistent OSP sync log: sent in the background, cancelled once
/// committed, replayed after a crash.
final class LODDestroyTests: XCTestCase {
    private func segments(_ fixture: LODOSSFixture) -> Int {
        guard let dir = opendir("\(fixture.mdtRoot)/\(LODDevice.syncLogDirectory)") else { return 0 }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { count += 1 }
        }
        return count
    }

    func testDestroyedObjectsLeaveTheirOSTsAndTheLogEmpties() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        var files: [(LustreFID, [LayoutObject])] = []
        for n in UInt32(1)...20 {
            files.append((lodFID(n), try await lod.allocate(for: lodFID(n), layout: lodLayout(count: 2)).objects))
        }
        // Concurrent callers share the log's syncs.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (fid, objects) in files { group.addTask { try await lod.destroy(objects, of: fid) } }
            try await group.waitForAll()
        }
        await lodWait(15, "destroys committed") { lod.pendingDestroyCount == 0 }
        for (_, objects) in files {
            for object in objects {
                XCTAssertFalse(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) still on OST\(object.ostIndex)")
            }
        }
        XCTAssertEqual(try OSPSyncLog.liveRecords(directory: "\(fixture.mdtRoot)/\(LODDevice.syncLogDirectory)").count, 0)
        await lod.stop()
        XCTAssertEqual(segments(fixture), 0, "log segments left after every record was cancelled")
    }

    func testADestroyWaitsForTheMDTToCommitItsOperation() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        let objects = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: 2)).objects
        lod.mdtCommitted(10)
        try await lod.destroy(objects, of: lodFID(1), committingWith: 12)
        // Transno 12 is not committed: were the MDS to crash now and lose it, the file would
        // still exist, so its objects must too.
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(lod.pendingDestroyCount, 2)
        for object in objects { XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex))) }
        lod.mdtCommitted(11)
        try await Task.sleep(for: .milliseconds(300))
        for object in objects { XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex))) }
        lod.mdtCommitted(12)
        await lodWait(15, "destroy committed") { lod.pendingDestroyCount == 0 }
        for object in objects { XCTAssertFalse(fixture.objectExists(object.id, on: Int(object.ostIndex))) }
        // A checkpoint makes the record durable before the MDT trims its log; then it is gone.
        try await lod.checkpoint()
        XCTAssertEqual(try OSPSyncLog.liveRecords(directory: "\(fixture.mdtRoot)/\(LODDevice.syncLogDirectory)").count, 0)
        await lod.stop()
    }

    func testDestroyLogIsReplayedAfterACrash() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        var doomed: [LayoutObject] = []
        for n in UInt32(1)...10 {
            let objects = try await first.allocate(for: lodFID(n), layout: lodLayout(count: 2)).objects
            doomed += objects
        }
        // With the OSTs away the destroys can only be logged; then the MDS "crashes".
        await fixture.stopOSS(0)
        await fixture.stopOSS(1)
        for n in UInt32(1)...10 {
            try await first.destroy(Array(doomed[Int(n - 1) * 2..<Int(n) * 2]), of: lodFID(n))
        }
        XCTAssertEqual(first.pendingDestroyCount, 20)
        await first.crash()
        let logged = try OSPSyncLog.liveRecords(directory: "\(fixture.mdtRoot)/\(LODDevice.syncLogDirectory)")
        XCTAssertEqual(Set(logged.map { LayoutObject(ostIndex: $0.ostIndex, id: $0.object) }), Set(doomed))
        for object in doomed { XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex))) }

        try await fixture.startOSS(0)
        try await fixture.startOSS(1)
        let second = try await fixture.startLOD()
        await lodWait(20, "replayed destroys committed") { second.pendingDestroyCount == 0 }
        for object in doomed {
            XCTAssertFalse(fixture.objectExists(object.id, on: Int(object.ostIndex)), "\(object.id) survived the replay")
        }
        // The destroyed ids are never handed out again.
        let fresh = try await second.allocate(for: lodFID(100), layout: lodLayout(count: 2)).objects
        XCTAssertTrue(Set(fresh).isDisjoint(with: doomed))
        await second.stop()
    }

    /// A power loss can keep destroy records while the MDT loses the unlinks they belong to:
    /// the files are still there after its replay, and must keep their objects.
    func testLoggedDestroysOfFilesTheMDTStillHasAreDropped() async throws {
        let fixture = try await makeLODFixture()
        let first = try await fixture.startLOD()
        var objectsOf: [LustreFID: [LayoutObject]] = [:]
        for n in UInt32(1)...6 {
            objectsOf[lodFID(n)] = try await first.allocate(for: lodFID(n), layout: lodLayout(count: 2)).objects
        }
        await fixture.stopOSS(0)
        await fixture.stopOSS(1)
        for (fid, objects) in objectsOf { try await first.destroy(objects, of: fid) }
        await first.crash()
        try await fixture.startOSS(0)
        try await fixture.startOSS(1)
        let second = try await fixture.startLOD(holdingLoggedDestroys: true)
        // Nothing goes before the MDT's replay has answered.
        try await Task.sleep(for: .milliseconds(500))
        for objects in objectsOf.values {
            for object in objects { XCTAssertTrue(fixture.objectExists(object.id, on: Int(object.ostIndex))) }
        }
        // Files 1-3 are still there with their layouts; 4-6 are gone (and file 2 only keeps its
        // first object: the second was swapped out, and goes).
        let survivors: Set<LustreFID> = [lodFID(1), lodFID(2), lodFID(3)]
        let layouts = objectsOf.mapValues { $0 }.merging([lodFID(2): [objectsOf[lodFID(2)]![0]]]) { $1 }
        await second.replayFinished(referenced: { fid, object in
            survivors.contains(fid) && layouts[fid]!.contains(object)
        })
        await lodWait(20, "the other destroys committed") { second.pendingDestroyCount == 0 }
        for (fid, objects) in objectsOf {
            for object in objects {
                let kept = survivors.contains(fid) && layouts[fid]!.contains(object)
                XCTAssertEqual(fixture.objectExists(object.id, on: Int(object.ostIndex)), kept, "\(fid) \(object.id)")
            }
        }
        try await second.checkpoint()
        XCTAssertEqual(try OSPSyncLog.liveRecords(directory: "\(fixture.mdtRoot)/\(LODDevice.syncLogDirectory)").count, 0)
        await second.stop()
    }

    func testReplayedDestroyOfAGoneObjectCompletes() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        let objects = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: 2)).objects
        try await lod.destroy(objects, of: lodFID(1))
        await lodWait(15, "first destroy") { lod.pendingDestroyCount == 0 }
        // The MDT replays the same unlink: the OST answers ENOENT, which counts as done.
        try await lod.destroy(objects, of: lodFID(1))
        await lodWait(15, "repeated destroy") { lod.pendingDestroyCount == 0 }
        // A layout naming an impossible OST index is refused, not logged.
        do {
            try await lod.destroy([LayoutObject(ostIndex: 0x1_0000, id: OSTObjectID(objectID: 1))], of: lodFID(2))
            XCTFail("destroy on OST index 0x10000 accepted")
        } catch {
            XCTAssertEqual(error.errno, EINVAL)
        }
        lod.noteInUse([LayoutObject(ostIndex: 0xffff_ffff, id: OSTObjectID(objectID: 1))])
        try await lod.checkpoint()
        XCTAssertEqual(try LODObjectIDFile.read(root: fixture.mdtRoot).count, 2)
        await lod.stop()
    }

    func testDestroyBeforeStartIsRefused() async throws {
        let fixture = try await makeLODFixture()
        let lod = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs")
        do {
            try await lod.destroy([LayoutObject(ostIndex: 0, id: OSTObjectID(objectID: 5))], of: lodFID(1))
            XCTFail("destroy before start succeeded")
        } catch {
            XCTAssertEqual(error.errno, ESHUTDOWN)
        }
    }
}

/// The log's records and segments alone, on a scratch directory.
final class OSPSyncLogTests: XCTestCase {
    private func scratch() throws -> String {
        var template = Array("/tmp/ospsynclog.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let path = String(cString: made)
        addTeardownBlock { LODOSSFixture.run(["rm", "-rf", path]) }
        return path
    }

    func testRecordRoundTripAndDamageIsIgnored() {
        let record = OSPSyncRecord(ostIndex: 3, object: OSTObjectID(sequence: 0, objectID: 1234),
                                   parent: LustreFID(sequence: 0x200000400, objectID: 7, version: 0), time: 99)
        var bytes = record.encoded()
        XCTAssertEqual(bytes.count, OSPSyncRecord.size)
        let decoded = bytes.withUnsafeBytes { OSPSyncRecord.decode($0) }
        XCTAssertEqual(decoded?.record, record)
        XCTAssertEqual(decoded?.live, true)
        bytes[0] = 2   // cancelled in place
        XCTAssertEqual(bytes.withUnsafeBytes { OSPSyncRecord.decode($0) }?.live, false)
        bytes[20] ^= 1  // a torn or damaged record
        XCTAssertNil(bytes.withUnsafeBytes { OSPSyncRecord.decode($0) })
        XCTAssertNil([UInt8](repeating: 0, count: 64).withUnsafeBytes { OSPSyncRecord.decode($0) })
    }

    func testLiveRecordsSurviveReopenAndFullSegmentsGo() async throws {
        let directory = try scratch()
        let (log, live) = try OSPSyncLog.open(directory: directory, recordsPerSegment: 4)
        XCTAssertTrue(live.isEmpty)
        let records = (1...10).map { OSPSyncRecord(ostIndex: UInt32($0 % 2), object: OSTObjectID(objectID: UInt64($0)),
                                                   parent: lodFID(UInt32($0))) }
        let ids = try await log.append(records)
        XCTAssertEqual(Set(ids.map(\.segment)).count, 3)
        // The first segment entirely cancelled is removed; one record of the second is cancelled.
        log.cancel(Array(ids[0..<4]) + [ids[5]])
        XCTAssertEqual(log.liveCount, 5)
        log.close()
        let (reopened, replay) = try OSPSyncLog.open(directory: directory, recordsPerSegment: 4)
        XCTAssertEqual(replay.map(\.record), Array(records[4...]).filter { $0 != records[5] })
        XCTAssertFalse(replay.contains { $0.id.segment == ids[0].segment })
        reopened.cancel(replay.map(\.id))
        reopened.close()
        XCTAssertTrue(try OSPSyncLog.liveRecords(directory: directory).isEmpty)
    }
}
