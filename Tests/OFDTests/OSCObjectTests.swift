import LibCFS
import NIOCore
import LustreTestSupport
import OFD
import OSC
import ObdClass
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Every OST RPC through the OSC against an in-process OFD over loopback TCP.
final class OSCObjectTests: XCTestCase {
    func testPrecreateReturnsConsecutiveNewIDs() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let first = try await osc.precreate(count: 8)
        let second = try await osc.precreate(count: 4)
        XCTAssertEqual(first.count, 8)
        XCTAssertEqual(second.count, 4)
        XCTAssertEqual(second.lowerBound, first.upperBound + 1)
        let attributes = try await osc.getattr(OSTObjectID(objectID: first.lowerBound))
        XCTAssertEqual(attributes.size, 0)
    }

    func testWriteThenReadAcrossSeveralRPCsAtAnUnalignedOffset() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let data = pattern(9 << 20 + 12345, seed: 1)
        let transno = try await osc.write(object: id, offset: 4000, data: data)
        XCTAssertGreaterThan(transno, 0)
        let back = try await osc.read(object: id, offset: 4000, length: data.readableBytes)
        XCTAssertEqual(back, data)
        let actual1 = try await osc.getattr(id).size
        XCTAssertEqual(actual1, UInt64(4000 + data.readableBytes))
    }

    /// A write of several buffers goes without copying them into one: extents that follow each
    /// other share an RPC whose bulk is those buffers, cut at the RPC boundary, and the bytes land
    /// back to back.
    func testWriteOfSeveralBuffersLandsBackToBackInFewRPCs() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let parts = [pattern((1 << 20) + 3, seed: 21), pattern(700_001, seed: 22), pattern(2 << 20, seed: 23),
                     pattern(5, seed: 24), pattern(1 << 20, seed: 25)]
        var whole = ByteBuffer()
        for part in parts { whole.writeImmutableBuffer(part) }
        try ParamTree.shared.set("obdfilter.testfs-OST0000.stats", value: "clear")
        let transno = try await osc.write(object: id, offset: 8192, parts: parts)
        XCTAssertGreaterThan(transno, 0)
        let back = try await osc.read(object: id, offset: 8192, length: whole.readableBytes)
        XCTAssertEqual(back, whole)
        let stats = try XCTUnwrap(ParamTree.shared.get("obdfilter.testfs-OST0000.stats").first?.value)
        let writes = stats.split(separator: "\n").first { $0.hasPrefix("write_bytes ") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) }
        XCTAssertEqual(writes, 2, "4.8 MiB from 8 KiB: two 4 MiB-aligned RPCs, not one per buffer:\n\(stats)")
    }

    func testReadPastTheEndIsShort() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(10_000, seed: 2))
        let back = try await osc.read(object: id, offset: 8192, length: 8 << 20)
        XCTAssertEqual(back, pattern(10_000, seed: 2).getSlice(at: 8192, length: 10_000 - 8192))
        let nothing = try await osc.read(object: id, offset: 1 << 30, length: 4096)
        XCTAssertEqual(nothing.readableBytes, 0)
    }

    func testCreateSetattrPunchDestroy() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        var attributes = obdo(OSTObjectID(objectID: 1000))
        attributes.valid.insert(.mode)
        attributes.mode = 0o100640
        try await osc.create(attributes)
        try await osc.write(object: attributes.id, offset: 0, data: pattern(1 << 20, seed: 3))

        var change = obdo(attributes.id)
        change.valid.formUnion([.uid, .gid])
        change.uid = 500
        change.gid = 501
        try await osc.setattr(change)
        let changed = try await osc.getattr(attributes.id)
        XCTAssertEqual(changed.uid, 500)
        XCTAssertEqual(changed.gid, 501)

        try await osc.punch(attributes.id, start: 4096)
        let actual2 = try await osc.getattr(attributes.id).size
        XCTAssertEqual(actual2, 4096)

        try await osc.destroy(attributes.id)
        await assertErrno(ENOENT) { try await osc.getattr(attributes.id) }
    }

    func testBatchDestroyAnswersEachObjectAndOneTransnoCoversThem() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let range = try await osc.precreate(count: 6)
        let ids = range.map { OSTObjectID(objectID: $0) }
        try await osc.write(object: ids[2], offset: 0, data: pattern(70_000, seed: 4))
        let missing = OSTObjectID(objectID: range.upperBound + 1000)
        let asked = [ids[0], ids[1], missing, ids[2], ids[3]]
        let (statuses, transno) = try await osc.destroy(asked)
        XCTAssertEqual(statuses, [0, 0, -ENOENT, 0, 0])
        XCTAssertGreaterThan(transno, 0)
        for id in asked { await assertErrno(ENOENT) { try await osc.getattr(id) } }
        _ = try await osc.getattr(ids[4]) // not asked for: still there
        // Committed once the OST says so: the transno is the batch's last.
        let committed = try await osc.sync()
        XCTAssertGreaterThanOrEqual(committed, transno)
        // One object alone, and a batch of only missing objects.
        let (single, _) = try await osc.destroy([ids[4]])
        XCTAssertEqual(single, [0])
        let (gone, _) = try await osc.destroy([ids[0], ids[1]])
        XCTAssertEqual(gone, [-ENOENT, -ENOENT])
    }

    func testStatfsDescribesTheTarget() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let statfs = try await osc.statfs()
        XCTAssertEqual(statfs.fsid, "testfs-OST0000_UUID")
        XCTAssertGreaterThan(statfs.blocks, 0)
        XCTAssertLessThanOrEqual(statfs.blocksAvailable, statfs.blocks)
        XCTAssertGreaterThan(statfs.blockSize, 0)
    }

    func testSyncMakesEveryWriteCommitted() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        let transno = try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 4))
        let committed = try await osc.sync()
        XCTAssertGreaterThanOrEqual(committed, transno)
        XCTAssertGreaterThanOrEqual(osc.lastCommitted, transno)
    }

    func testStatsCountBytesPerTarget() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(65536, seed: 5))
        _ = try await osc.read(object: id, offset: 0, length: 65536)
        let stats = try XCTUnwrap(ParamTree.shared.get("obdfilter.testfs-OST0000.stats").first?.value)
        XCTAssertTrue(stats.contains("write_bytes"), stats)
        XCTAssertTrue(stats.contains("read_bytes"), stats)
        XCTAssertTrue(stats.contains("65536 65536 65536"), stats)
    }

    func testOSCTunablesAreParameters() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let prefix = "osc.\(osc.name)."
        XCTAssertEqual(try ParamTree.shared.get(prefix + "max_rpcs_in_flight").first?.value, "8")
        XCTAssertEqual(try ParamTree.shared.get(prefix + "max_pages_per_rpc").first?.value, "1024")
        XCTAssertEqual(try ParamTree.shared.get(prefix + "checksum_type").first?.value, "crc32 adler [crc32c]")
        _ = try ParamTree.shared.set(prefix + "max_rpcs_in_flight", value: "16")
        XCTAssertEqual(osc.maxRPCsInFlight.value, 16)
        XCTAssertThrowsError(try ParamTree.shared.set(prefix + "max_pages_per_rpc", value: "2048"))
        XCTAssertEqual(try ParamTree.shared.get(prefix + "short_io_bytes").first?.value, "16384")
        _ = try ParamTree.shared.set(prefix + "short_io_bytes", value: "0")
        XCTAssertEqual(osc.shortIOBytes.value, 0)
        XCTAssertThrowsError(try ParamTree.shared.set(prefix + "short_io_bytes", value: "65537"))
    }

    func testSmallIOIsTheSameWithAndWithoutShortIO() async throws {
        let oss = try await makeOSS()
        let short = try await oss.osc()
        let bulk = try await oss.osc(client: 1) { $0.shortIOBytes = 0 }
        let id = OSTObjectID(objectID: try await short.precreate(count: 1).lowerBound)
        // 4 KiB pieces at unaligned offsets, written alternately by either device.
        for piece in 0..<8 {
            let writer = piece % 2 == 0 ? short : bulk
            try await writer.write(object: id, offset: UInt64(piece * 4096 + 100), data: pattern(4096, seed: UInt64(piece)))
        }
        let end = 8 * 4096 + 100
        for reader in [short, bulk] {
            for piece in 0..<8 {
                let back = try await reader.read(object: id, offset: UInt64(piece * 4096 + 100), length: 4096)
                XCTAssertEqual(back, pattern(4096, seed: UInt64(piece)), "piece \(piece)")
            }
            // Across the end of the object: the short read returns only what is there.
            let tail = try await reader.read(object: id, offset: UInt64(end - 1000), length: 16 << 10)
            XCTAssertEqual(tail, pattern(4096, seed: 7).getSlice(at: 4096 - 1000, length: 1000))
        }
    }

    func testTwoTargetsBehindOneServiceKeepTheirObjectsApart() async throws {
        let oss = try await makeOSS(targets: ["testfs-OST0000", "testfs-OST0001"])
        let first = try await oss.osc("testfs-OST0000")
        let second = try await oss.osc("testfs-OST0001", client: 1)
        let a = OSTObjectID(objectID: try await first.precreate(count: 1).lowerBound)
        let b = OSTObjectID(objectID: try await second.precreate(count: 1).lowerBound)
        XCTAssertEqual(a, b, "each target numbers its own objects")
        try await first.write(object: a, offset: 0, data: pattern(8192, seed: 10))
        try await second.write(object: b, offset: 0, data: pattern(8192, seed: 11))
        let actual3 = try await first.read(object: a, offset: 0, length: 8192)
        XCTAssertEqual(actual3, pattern(8192, seed: 10))
        let actual4 = try await second.read(object: b, offset: 0, length: 8192)
        XCTAssertEqual(actual4, pattern(8192, seed: 11))
        let actual5 = try await second.statfs().fsid
        XCTAssertEqual(actual5, "testfs-OST0001_UUID")
    }
}
