import LOV
import LibCFS
import Synchronization
import XCTest

/// The per-OSC max_dirty_mb accounting writers wait on.
final class LOVDirtyLimitTests: XCTestCase {
    func testWritersWaitWhileTheLimitIsReachedAndResumeOnRelease() async throws {
        let limit = LOVDirtyLimit(maxDirtyMB: 1)
        await limit.acquire(768 << 10, beforeWaiting: {})
        let asked = Mutex(0)
        let waiter = Task {
            await limit.acquire(512 << 10, beforeWaiting: { asked.withLock { $0 += 1 } })
        }
        // The second writer must not get through while 768 KiB of 1 MiB are held.
        for _ in 0..<100 where limit.waiters == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        XCTAssertEqual(limit.waiters, 1)
        XCTAssertEqual(limit.dirtyBytes, 768 << 10)
        XCTAssertEqual(asked.withLock { $0 }, 1)
        limit.release(768 << 10)
        await waiter.value
        XCTAssertEqual(limit.dirtyBytes, 512 << 10)
        XCTAssertEqual(limit.waiters, 0)
    }

    func testARequestLargerThanTheLimitPassesWhenNothingElseIsDirty() async {
        let limit = LOVDirtyLimit(maxDirtyMB: 1)
        await limit.acquire(3 << 20, beforeWaiting: {})
        XCTAssertEqual(limit.dirtyBytes, 3 << 20)
        limit.release(3 << 20)
        XCTAssertEqual(limit.dirtyBytes, 0)
    }

    func testRaisingTheTunableWakesWaiters() async throws {
        let limit = LOVDirtyLimit(maxDirtyMB: 1)
        await limit.acquire(1 << 20, beforeWaiting: {})
        let waiter = Task { await limit.acquire(1 << 20, beforeWaiting: {}) }
        for _ in 0..<100 where limit.waiters == 0 { try await Task.sleep(nanoseconds: 1_000_000) }
        XCTAssertEqual(limit.waiters, 1)
        try limit.maxDirtyMB.set(text: "2M")
        await waiter.value
        XCTAssertEqual(limit.dirtyBytes, 2 << 20)
        XCTAssertThrowsError(try limit.maxDirtyMB.set(0))
    }
}
