@testable import LLite
import NIOCore
import XCTest

/// Write-back runs: what leaves as an RPC and when, and that caller buffers are not copied.
final class LLiteWriteBackTests: XCTestCase {
    private let rpc = 4 << 20

    private func bytes(_ count: Int, _ value: UInt8) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        buffer.writeRepeatingByte(value, count: count)
        return buffer
    }

    func testSequentialWritesLeaveInWholeAlignedRPCs() {
        var run = LLiteDirtyRun()
        var sent: [LLiteDirtyExtent] = []
        for index in 0..<9 {
            sent += run.add(offset: UInt64(index) << 20, data: bytes(1 << 20, UInt8(index)), rpcBytes: rpc)
        }
        XCTAssertEqual(sent.map(\.offset), [0, 4 << 20])
        XCTAssertEqual(sent.map(\.length), [rpc, rpc])
        XCTAssertEqual(run.start, 8 << 20)
        XCTAssertEqual(run.length, 1 << 20)
        let gathered = sent[1].gathered()
        XCTAssertEqual(gathered.readableBytes, rpc)
        XCTAssertEqual(gathered.getInteger(at: 0, as: UInt8.self), 4)
        XCTAssertEqual(gathered.getInteger(at: rpc - 1, as: UInt8.self), 7)
    }

    func testAWholeAlignedRPCGoesOutAsTheCallersOwnBuffer() {
        var run = LLiteDirtyRun()
        let data = bytes(rpc, 9)
        let sent = run.add(offset: UInt64(rpc), data: data, rpcBytes: rpc)
        XCTAssertEqual(sent.count, 1)
        XCTAssertEqual(sent[0].slices.count, 1)
        let out = sent[0].slices[0]
        // Same storage: no copy was made.
        data.withUnsafeReadableBytes { source in
            out.withUnsafeReadableBytes { sent in XCTAssertEqual(source.baseAddress, sent.baseAddress) }
        }
        XCTAssertTrue(run.isEmpty)
    }

    func testAnUnalignedRunIsCutAtTheNextRPCBoundary() {
        var run = LLiteDirtyRun()
        let sent = run.add(offset: 3 << 20, data: bytes(6 << 20, 1), rpcBytes: rpc)
        XCTAssertEqual(sent.map(\.offset), [3 << 20, 4 << 20])
        XCTAssertEqual(sent.map(\.length), [1 << 20, rpc])
        XCTAssertEqual(run.start, 8 << 20)
        XCTAssertEqual(run.length, 1 << 20)
    }

    func testAWriteElsewhereSendsTheRunAsItIs() {
        var run = LLiteDirtyRun()
        XCTAssertTrue(run.add(offset: 0, data: bytes(4096, 1), rpcBytes: rpc).isEmpty)
        let sent = run.add(offset: 1 << 20, data: bytes(4096, 2), rpcBytes: rpc)
        XCTAssertEqual(sent.map(\.offset), [0])
        XCTAssertEqual(sent.map(\.length), [4096])
        XCTAssertEqual(run.start, 1 << 20)
        // Overwriting cached bytes is also "elsewhere": the older run leaves first.
        let again = run.add(offset: 1 << 20, data: bytes(4096, 3), rpcBytes: rpc)
        XCTAssertEqual(again.first?.gathered().getInteger(at: 0, as: UInt8.self), 2)
        XCTAssertEqual(run.takeAll()?.gathered().getInteger(at: 0, as: UInt8.self), 3)
        XCTAssertNil(run.takeAll())
    }

    /// bonnie++ writes a byte per call: the run copies small writes into buffers of its own, so
    /// an RPC is a few pieces, not one per write (taking a run apart was quadratic in them).
    func testSmallWritesShareTheRunsOwnBuffers() {
        var run = LLiteDirtyRun()
        var sent: [LLiteDirtyExtent] = []
        let count = 300_000
        for index in 0..<count {
            sent += run.add(offset: UInt64(index), data: bytes(1, UInt8(truncatingIfNeeded: index)), rpcBytes: 1 << 20)
        }
        XCTAssertTrue(sent.isEmpty)
        guard let all = run.takeAll() else { return XCTFail("nothing cached") }
        XCTAssertEqual(all.length, count)
        XCTAssertLessThanOrEqual(all.slices.count, count / LLiteDirtyRun.ownedCapacity + 1)
        let gathered = all.gathered()
        XCTAssertEqual(gathered.readableBytes, count)
        XCTAssertTrue((0..<count).allSatisfy { gathered.getInteger(at: $0, as: UInt8.self) == UInt8(truncatingIfNeeded: $0) })
    }

    /// A run cut at an RPC boundary inside its own buffer keeps filling it; what left keeps its bytes.
    func testWritesAfterACutInsideAnOwnedBufferLeaveTheSentBytesAlone() {
        var run = LLiteDirtyRun()
        let rpc = 64 << 10
        var sent: [LLiteDirtyExtent] = []
        for index in 0..<20 {
            sent += run.add(offset: UInt64(index * 4000), data: bytes(4000, UInt8(index)), rpcBytes: rpc)
        }
        XCTAssertEqual(sent.map(\.length), [rpc])
        let first = sent[0].gathered()
        XCTAssertEqual(first.getInteger(at: rpc - 1, as: UInt8.self), UInt8((rpc - 1) / 4000))
        for index in 20..<40 {
            sent += run.add(offset: UInt64(index * 4000), data: bytes(4000, 0xEE), rpcBytes: rpc)
        }
        XCTAssertEqual(sent.map(\.offset), [0, UInt64(rpc)])
        XCTAssertTrue(sent[0].gathered() == first)
        let second = sent[1].gathered()
        XCTAssertEqual(second.getInteger(at: 0, as: UInt8.self), UInt8(rpc / 4000))
        XCTAssertEqual(second.getInteger(at: 20 * 4000 - rpc, as: UInt8.self), 0xEE)
    }

    func testReadAheadGrowsOnAStreamAndStopsOnASeek() {
        var state = LLiteReadAhead()
        let mib: UInt64 = 1 << 20
        XCTAssertEqual(state.record(offset: 0, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 8 * mib)
        XCTAssertEqual(state.record(offset: mib, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 16 * mib)
        XCTAssertEqual(state.record(offset: 2 * mib, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 32 * mib)
        XCTAssertEqual(state.record(offset: 3 * mib, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 64 * mib)
        XCTAssertEqual(state.record(offset: 4 * mib, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 64 * mib)
        XCTAssertEqual(state.record(offset: 900 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        // max_read_ahead_mb=0 turns it off.
        XCTAssertEqual(state.record(offset: 900 * mib + 4096, length: 4096, minimumWindow: 8 * mib, maximum: 0), 0)
    }

    func testReadAheadIgnoresARandomReadLandingNearTheLastOne() {
        var state = LLiteReadAhead()
        let mib: UInt64 = 1 << 20
        XCTAssertEqual(state.record(offset: 300 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        // Within the tolerance of the previous read, but one such read is no stream yet.
        XCTAssertEqual(state.record(offset: 300 * mib + 65536, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        XCTAssertEqual(state.record(offset: 12 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        // After a seek, the second read in a row that continues the first opens the window.
        XCTAssertEqual(state.record(offset: 12 * mib + 4096, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        XCTAssertEqual(state.record(offset: 13 * mib + 4096, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib), 8 * mib)
    }

    func testReadAheadKeepsAStreamWhoseReadsArriveOutOfOrder() {
        var state = LLiteReadAhead()
        let mib: UInt64 = 1 << 20
        func read(_ at: UInt64) -> UInt64 {
            state.record(offset: at * mib, length: 1 << 20, minimumWindow: 8 * mib, maximum: 64 * mib)
        }
        XCTAssertEqual(read(0), 8 * mib)
        XCTAssertEqual(read(2), 16 * mib)
        // Behind the furthest read (ending at 3 MiB): the stream and its read-ahead end stay.
        XCTAssertEqual(read(1), mib + 16 * mib)
        XCTAssertEqual(read(5), 32 * mib)
        XCTAssertEqual(read(3), 2 * mib + 32 * mib)
        XCTAssertEqual(read(4), mib + 32 * mib)
        XCTAssertEqual(read(6), 64 * mib)
        // Far behind the stream is a seek: the window closes.
        XCTAssertEqual(read(200), 0)
        XCTAssertEqual(read(100), 0)
    }

    func testRandomSmallReadsOfASmallFileOpenNoWindow() {
        var state = LLiteReadAhead()
        let mib: UInt64 = 1 << 20
        var seed: UInt64 = 42
        var fetchedAhead: UInt64 = 0
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset = (seed >> 33) % (32 * mib) / 4096 * 4096
            fetchedAhead += state.record(offset: offset, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib)
        }
        // 20 000 reads of 4 KiB are 78 MiB: a window that stays open fetches gigabytes.
        XCTAssertLessThan(fetchedAhead, 64 * mib)
    }

    func testSmallReadsOfAQueueArrivingOutOfOrderKeepTheirStream() {
        var state = LLiteReadAhead()
        let mib: UInt64 = 1 << 20
        var windows: [UInt64] = []
        // An O_DIRECT reader with 8 reads of 4 KiB in flight, answered last first.
        for batch in UInt64(0)..<8 {
            for index in (batch * 8..<batch * 8 + 8).reversed() {
                windows.append(state.record(offset: index * 4096, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib))
            }
        }
        XCTAssertGreaterThan(windows[0], 0)
        XCTAssertFalse(windows.contains(0), "the stream ended: \(windows)")
        // Then a seek: 4 KiB reads 1 MiB away are random.
        XCTAssertEqual(state.record(offset: 300 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        XCTAssertEqual(state.record(offset: 301 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
        XCTAssertEqual(state.record(offset: 302 * mib, length: 4096, minimumWindow: 8 * mib, maximum: 64 * mib), 0)
    }

    func testReadCacheKeysCoverARangeInWholeChunks() {
        let keys = LLiteReadCache.keys(stripe: 1, objectStart: 3 << 20, objectEnd: (9 << 20) + 1, chunkBytes: rpc)
        XCTAssertEqual(keys.map(\.start), [0, 4 << 20, 8 << 20])
        XCTAssertTrue(keys.allSatisfy { $0.stripe == 1 })
        XCTAssertEqual(LLiteReadCache.keys(stripe: 0, objectStart: 5, objectEnd: 5, chunkBytes: rpc), [])
    }
}

extension LLiteDirtyExtent {
    /// The extent's bytes in one buffer, to compare.
    func gathered() -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        for slice in slices { buffer.writeImmutableBuffer(slice) }
        return buffer
    }
}
