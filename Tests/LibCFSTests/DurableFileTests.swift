import Foundation
import LibCFS
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `DurableFile.replace`: through a temporary normally; in place when the volume has no inode
/// left for one (a full MDT's `lov_objid`), for small files only.
final class DurableFileTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        var template = Array("/tmp/durablefile.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        directory = String(cString: made)
    }

    override func tearDown() {
        _ = umount2(directory, Int32(MNT_DETACH))
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testReplaceGoesThroughATemporary() throws {
        let path = directory + "/state"
        try DurableFile.replace(path, with: [1, 2, 3])
        XCTAssertEqual(try DurableFile.read(path, limit: 100), [1, 2, 3])
        try DurableFile.replace(path, with: [4, 5])
        XCTAssertEqual(try DurableFile.read(path, limit: 100), [4, 5])
        XCTAssertNil(try DurableFile.readIfPresent(path + ".tmp", limit: 100), "no temporary left behind")
    }

    /// On a tmpfs with two inodes (its root and the file), the temporary cannot be made.
    func testASmallFileIsRewrittenInPlaceWhenNoInodeIsLeft() throws {
        try XCTSkipUnless(getuid() == 0, "mounting a tmpfs needs root")
        guard mount("tmpfs", directory, "tmpfs", 0, "size=1m,nr_inodes=2") == 0 else {
            throw XCTSkip("tmpfs not mountable here: errno \(errno)")
        }
        let path = directory + "/lov_objid"
        try DurableFile.replace(path, with: Array(repeating: 7, count: 64))
        XCTAssertEqual(try DurableFile.read(path, limit: 4096), Array(repeating: 7, count: 64))
        try DurableFile.replace(path, with: Array(repeating: 9, count: 16))
        XCTAssertEqual(try DurableFile.read(path, limit: 4096), Array(repeating: 9, count: 16), "rewritten, shortened")
        XCTAssertThrowsError(try DurableFile.replace(directory + "/other", with: [1])) { error in
            XCTAssertEqual((error as? LustreError)?.errno, ENOSPC, "a new file needs an inode")
        }
        XCTAssertThrowsError(try DurableFile.replace(path, with: Array(repeating: 1, count: DurableFile.inPlaceLimit + 1))) {
            XCTAssertEqual(($0 as? LustreError)?.errno, ENOSPC, "a large file is never rewritten in place")
        }
        XCTAssertEqual(try DurableFile.read(path, limit: 4096), Array(repeating: 9, count: 16))
    }
}
