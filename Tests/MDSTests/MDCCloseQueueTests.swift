import Synchronization
import XCTest

@testable import MDC

/// The queue of background closes: closes go together after a short wait, at once when a batch
/// is full, and on flush.
final class MDCCloseQueueTests: XCTestCase {
    final class Sent: Sendable {
        let batches = Mutex<[[UInt64]]>([])
        var send: MDCCloseQueue.Send { { handles in self.batches.withLock { $0.append(handles) } } }
        var all: [[UInt64]] { batches.withLock { $0 } }
    }

    func testClosesWaitForEachOtherThenGoTogether() async throws {
        let queue = MDCCloseQueue()
        let sent = Sent()
        for handle in 1...5 as ClosedRange<UInt64> { queue.add(handle, send: sent.send) }
        XCTAssertEqual(sent.all, [], "nothing goes before the delay")
        for _ in 0..<500 where sent.all.isEmpty { try await Task.sleep(for: .milliseconds(2)) }
        XCTAssertEqual(sent.all, [[1, 2, 3, 4, 5]])
        XCTAssertTrue(queue.isEmpty)
    }

    func testAFullBatchGoesAtOnceAndFlushSendsTheRest() async throws {
        let queue = MDCCloseQueue()
        let sent = Sent()
        let count = UInt64(MDCCloseQueue.limit) + 3
        for handle in 1...count { queue.add(handle, send: sent.send) }
        for _ in 0..<500 where sent.all.isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        XCTAssertEqual(sent.all.first, Array(1...UInt64(MDCCloseQueue.limit)))
        await queue.flush(send: sent.send)
        XCTAssertEqual(sent.all.flatMap { $0 }.sorted(), Array(1...count), "every close went once")
        XCTAssertTrue(queue.isEmpty)
        try await Task.sleep(for: .milliseconds(20))
        XCTAssertEqual(sent.all.flatMap { $0 }.count, Int(count), "the timer sends nothing twice")
    }
}
