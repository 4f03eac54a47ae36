import LibCFS
import NIOCore
import OFD
import OSC
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Resends, merging and reconnects: what the OSC does so callers see neither lost bulk nor a
/// restarted OSS.
final class OSCRecoveryTests: XCTestCase {
    override func tearDown() {
        FailLoc.value = 0
        super.tearDown()
    }

    func testDroppedWriteBulkIsResent() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        FailLoc.value = FailLoc.once | OFDFail.brwWriteBulk
        try await osc.write(object: id, offset: 0, data: pattern(1 << 20, seed: 1))
        XCTAssertNotEqual(FailLoc.value & FailLoc.failed, 0, "the fault point fired")
        FailLoc.value = 0
        let actual1 = try await osc.read(object: id, offset: 0, length: 1 << 20)
        XCTAssertEqual(actual1, pattern(1 << 20, seed: 1))
    }

    func testDroppedReadBulkIsResent() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(65536, seed: 2))
        FailLoc.value = FailLoc.once | OFDFail.brwReadBulk
        let actual2 = try await osc.read(object: id, offset: 0, length: 65536)
        XCTAssertEqual(actual2, pattern(65536, seed: 2))
    }

    func testCorruptedWriteChecksumIsResent() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumReceive
        try await osc.write(object: id, offset: 0, data: pattern(1 << 20, seed: 3))
        FailLoc.value = 0
        let actual3 = try await osc.read(object: id, offset: 0, length: 1 << 20)
        XCTAssertEqual(actual3, pattern(1 << 20, seed: 3))
    }

    func testWritesWithoutChecksumsStillLand() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc { $0.checksumType = nil }
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(300_000, seed: 4))
        let actual4 = try await osc.read(object: id, offset: 0, length: 300_000)
        XCTAssertEqual(actual4, pattern(300_000, seed: 4))
    }

    /// With one RPC in flight, small writes queued behind it leave together in full RPCs.
    func testQueuedSmallWritesMergeIntoFewerRPCs() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc { $0.maxRPCsInFlight = 1 }
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let stats = try XCTUnwrap(oss.service?.targets.first?.stats)
        let writesBefore = stats.snapshot(1).count    // write_bytes samples: one per RPC
        let pieces = 64
        let data = pattern(pieces * 8192, seed: 5)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for piece in 0..<pieces {
                group.addTask {
                    try await osc.write(object: id, offset: UInt64(piece * 8192),
                                        data: data.getSlice(at: piece * 8192, length: 8192)!)
                }
            }
            try await group.waitForAll()
        }
        let rpcs = stats.snapshot(1).count - writesBefore
        XCTAssertLessThan(rpcs, Int64(pieces), "\(rpcs) RPCs for \(pieces) writes")
        let actual5 = try await osc.read(object: id, offset: 0, length: data.readableBytes)
        XCTAssertEqual(actual5, data)
    }

    func testConcurrentReadsOfOneObjectMerge() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc { $0.maxRPCsInFlight = 1 }
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let data = pattern(32 * 4096, seed: 6)
        try await osc.write(object: id, offset: 0, data: data)
        let parts = try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
            for piece in 0..<32 {
                group.addTask { (piece, try await osc.read(object: id, offset: UInt64(piece * 4096), length: 4096)) }
            }
            return try await group.reduce(into: [Int: ByteBuffer]()) { $0[$1.0] = $1.1 }
        }
        for piece in 0..<32 {
            XCTAssertEqual(parts[piece], data.getSlice(at: piece * 4096, length: 4096), "piece \(piece)")
        }
    }

    func testMaxPagesPerRPCBoundsEachRPC() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc { $0.maxPagesPerRPC = 16 }
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let stats = try XCTUnwrap(oss.service?.targets.first?.stats)
        try await osc.write(object: id, offset: 0, data: pattern(1 << 20, seed: 7))
        let writes = stats.snapshot(1)
        XCTAssertEqual(writes.count, 16)
        XCTAssertEqual(writes.max, 65536)
    }

    /// The OSS goes away and comes back on the same NID and directory: calls made meanwhile
    /// complete after the OSC reconnects, and committed data is all there.
    func testWritesCompleteAcrossAnOSSRestart() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let before = pattern(1 << 20, seed: 8)
        try await osc.write(object: id, offset: 0, data: before)
        try await osc.sync()
        await oss.stopServer()
        let after = pattern(1 << 20, seed: 9)
        let pending = Task { try await osc.write(object: id, offset: 1 << 20, data: after) }
        try await Task.sleep(for: .milliseconds(300))
        try await oss.startServer()
        _ = try await pending.value
        let actual6 = try await osc.read(object: id, offset: 0, length: 1 << 20)
        XCTAssertEqual(actual6, before)
        let actual7 = try await osc.read(object: id, offset: 1 << 20, length: 1 << 20)
        XCTAssertEqual(actual7, after)
    }
}
