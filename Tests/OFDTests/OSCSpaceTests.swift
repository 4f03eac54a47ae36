import LibCFS
import OSC
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The OSC's view of its OST's free space: far from full one statfs serves many writes; the
/// bytes cached since, or age, make it ask again; near full it refuses (the write goes through
/// at once); a statfs that fails admits.
final class OSCSpaceTests: XCTestCase {
    private final class FakeOST: Sendable {
        let available = Mutex<UInt64>(0)
        let asked = Mutex(0)
        let failing = Mutex(false)

        func space() -> OSCSpace {
            OSCSpace { [self] () async throws(LustreError) -> UInt64 in
                asked.withLock { $0 += 1 }
                if failing.withLock({ $0 }) { throw LustreError(errno: ETIMEDOUT, "statfs") }
                return available.withLock { $0 }
            }
        }
    }

    func testOneStatfsServesWritesFarFromFull() async {
        let ost = FakeOST()
        ost.available.withLock { $0 = 1 << 30 }
        let space = ost.space()
        for _ in 0..<100 {
            let admitted = await space.admits(1 << 20, pending: 8 << 20, reserve: 8 << 20)
            XCTAssertTrue(admitted)
        }
        XCTAssertEqual(ost.asked.withLock { $0 }, 1, "100 MiB of 1 GiB: one statfs")
        XCTAssertEqual(space.available, 1 << 30)
    }

    func testBytesCachedSinceTheLastStatfsMakeItAskAgain() async {
        let ost = FakeOST()
        ost.available.withLock { $0 = 100 << 20 }
        let space = ost.space()
        var admitted = 0
        // Each statfs answers 100 MiB: it is asked again once the writes since come near half.
        for _ in 0..<200 where await space.admits(1 << 20, pending: 0, reserve: 0) { admitted += 1 }
        XCTAssertEqual(admitted, 200, "the OST keeps saying 100 MiB")
        let asked = ost.asked.withLock { $0 }
        XCTAssertTrue((4...8).contains(asked), "asked \(asked) times for 200 MiB")
    }

    func testNearFullTheWriteIsRefused() async {
        let ost = FakeOST()
        ost.available.withLock { $0 = 40 << 20 }
        let space = ost.space()
        let fits = await space.admits(1 << 20, pending: 20 << 20, reserve: 8 << 20)
        XCTAssertTrue(fits, "29 MiB of 40")
        let tooMuch = await space.admits(1 << 20, pending: 32 << 20, reserve: 8 << 20)
        XCTAssertFalse(tooMuch, "41 MiB of 40")
        // Space freed on the OST (a file removed): the next question learns it.
        ost.available.withLock { $0 = 1 << 30 }
        let again = await space.admits(1 << 20, pending: 32 << 20, reserve: 8 << 20)
        XCTAssertTrue(again)
    }

    func testAnOSTThatDoesNotAnswerAdmits() async {
        let ost = FakeOST()
        ost.failing.withLock { $0 = true }
        let space = ost.space()
        let admitted = await space.admits(1 << 20, pending: 0, reserve: 0)
        XCTAssertTrue(admitted, "no figure: the write is cached, its error comes at close")
        XCTAssertNil(space.available)
        for _ in 0..<10 {
            let next = await space.admits(1 << 20, pending: 0, reserve: 0)
            XCTAssertTrue(next)
        }
        XCTAssertEqual(ost.asked.withLock { $0 }, 1, "not asked again at every write")
    }

    func testAStatfsOfTheOSCTeachesIt() async {
        let ost = FakeOST()
        let space = ost.space()
        space.learn(available: 10 << 20)
        let refused = await space.admits(4 << 20, pending: 0, reserve: 8 << 20)
        XCTAssertFalse(refused)
        XCTAssertEqual(ost.asked.withLock { $0 }, 1, "near full, it asks before it refuses")
    }
}
