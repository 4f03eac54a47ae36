import LNet
import LibCFS
@testable import MDT
import ObdClass
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The offline object check: missing objects, orphans, and what is neither.
final class LODObjectCheckTests: XCTestCase {
    func testFindsAPlantedOrphanAndAPlantedMissingObject() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD { $0.stopDrainTimeout = 0 }
        await lod.replayFinished()                  // the MDT's (empty) replay
        var layouts: [LustreFID: LustreLayout] = [:]
        for n in UInt32(1)...6 {
            layouts[lodFID(n)] = try await lod.allocate(for: lodFID(n), layout: lodLayout(count: 2))
            lod.noteLogged(layouts[lodFID(n)]!.objects)     // the files are in the MDT's log
        }
        // One file is being unlinked: its objects wait in the destroy log (the OSTs are away).
        await fixture.stopOSS(0)
        await fixture.stopOSS(1)
        let unlinking = layouts.removeValue(forKey: lodFID(6))!
        try await lod.destroy(unlinking.objects, of: lodFID(6))
        await lod.stop()
        let roots: [UInt32: String] = [0: fixture.ostRoot(0), 1: fixture.ostRoot(1)]

        // Consistent: precreated objects above lov_objid and pending destroys are fine.
        XCTAssertEqual(try LODObjectCheck.check(mdtRoot: fixture.mdtRoot, ostRoots: roots, layouts: layouts), [])

        // Plant an orphan (a file's layout gone) and a missing object (an object file gone).
        let orphaned = layouts.removeValue(forKey: lodFID(2))!
        let lost = layouts[lodFID(4)]!.objects[1]
        XCTAssertEqual(unlink("\(fixture.ostRoot(Int(lost.ostIndex)))/\(lost.id.path)"), 0)
        let problems = try LODObjectCheck.check(mdtRoot: fixture.mdtRoot, ostRoots: roots, layouts: layouts)
        XCTAssertEqual(problems.count, 3, "\(problems)")
        for object in orphaned.objects {
            XCTAssertTrue(problems.contains { $0.hasPrefix("orphan object \(object.id) on OST index \(object.ostIndex)") },
                          "\(object) not reported: \(problems)")
        }
        XCTAssertTrue(problems.contains { $0.hasPrefix("missing object \(lost.id) on OST index \(lost.ostIndex) for \(lodFID(4))") },
                      "\(problems)")

        // Ids the next start reconciles (in lov_objid_unlogged) are not orphans yet.
        let unreconciled = orphaned.objects.map { (index: $0.ostIndex, range: $0.id.objectID...$0.id.objectID) }
        XCTAssertNil(LODUnloggedObjectsFile.write(root: fixture.mdtRoot, unreconciled))
        XCTAssertEqual(try LODObjectCheck.check(mdtRoot: fixture.mdtRoot, ostRoots: roots, layouts: layouts).count, 1)
    }

    func testUnknownOSTAndDamagedObjectIDFile() throws {
        var template = Array("/tmp/lodcheck.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let root = String(cString: made)
        defer { LODOSSFixture.run(["rm", "-rf", root]) }
        let layout = LustreLayout(stripeSize: 1 << 20, stripeCount: 1, stripeOffset: 0,
                                  objects: [LayoutObject(ostIndex: 7, id: OSTObjectID(objectID: 3))])
        let problems = try LODObjectCheck.check(mdtRoot: root, ostRoots: [:], layouts: [lodFID(1): layout])
        XCTAssertEqual(problems.count, 1)
        XCTAssertTrue(problems[0].contains("no such OST given"), problems[0])
        let fd = open("\(root)/lov_objid", O_WRONLY | O_CREAT, 0o644)
        XCTAssertEqual(write(fd, "abc", 3), 3)
        close(fd)
        XCTAssertThrowsError(try LODObjectCheck.check(mdtRoot: root, ostRoots: [:], layouts: [:]))
    }
}
