import LibCFS
import NIOCore
import LustreTestSupport
import OFD
import OSC
import ObdClass
import PtlRPC
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Requests a well-behaved OSC never sends: each is answered with an errno, and a second client
/// keeps being served meanwhile.
final class OFDBadRequestTests: XCTestCase {
    private func brw(_ rpcImport: PtlRPCImport, _ opcode: OSTOpcode, _ id: OSTObjectID, _ niobufs: [OSTNiobuf],
                     bulk: PtlRPCImport.Bulk) async throws -> Int32 {
        try await rpcImport.call(opcode: opcode.rawValue, buffers: [encode(obdo(id)), OSTNiobuf.encode(niobufs)],
                                 bulk: bulk).reply.status
    }

    /// A healthy client's round trip, to show the bad one harmed nobody.
    private func assertStillServes(_ osc: OSCDevice, file: StaticString = #filePath, line: UInt = #line) async throws {
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 99))
        let back = try await osc.read(object: id, offset: 0, length: 4096)
        XCTAssertEqual(back, pattern(4096, seed: 99), file: file, line: line)
    }

    func testUnknownObjectIsENOENT() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let missing = OSTObjectID(objectID: 987_654)
        await assertErrno(ENOENT) { try await osc.getattr(missing) }
        await assertErrno(ENOENT) { try await osc.read(object: missing, offset: 0, length: 4096) }
        await assertErrno(ENOENT) { try await osc.destroy(missing) }
        try await assertStillServes(osc)
    }

    func testMalformedOrOversizeDestroyListIsRefusedAndNothingIsDestroyed() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let id = OSTObjectID(objectID: try await good.precreate(count: 1).lowerBound)
        var ragged = OSTDestroyBatch.encodeRest(of: [id, OSTObjectID(objectID: 5)])
        ragged.writeInteger(UInt8(1))
        let status = try await rpcImport.call(opcode: OSTOpcode.destroy.rawValue,
                                              buffers: [encode(obdo(id)), ragged]).reply.status
        XCTAssertEqual(status, -EPROTO)
        let tooMany = Array(repeating: id, count: OSTDestroyBatch.maxObjects + 1)
        let oversize = try await rpcImport.call(opcode: OSTOpcode.destroy.rawValue,
                                                buffers: [encode(obdo(id)), OSTDestroyBatch.encodeRest(of: tooMany)]).reply.status
        XCTAssertEqual(oversize, -EINVAL)
        await assertErrno(EINVAL) { _ = try await good.destroy(tooMany) }
        _ = try await good.getattr(id) // still there
        try await assertStillServes(good)
    }

    func testAMalformedGrantBufferIsEPROTOAndWritesNothing() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let id = OSTObjectID(objectID: try await good.precreate(count: 1).lowerBound)
        let status = try await rpcImport.call(opcode: OSTOpcode.write.rawValue,
                                              buffers: [encode(obdo(id)), OSTNiobuf.encode([OSTNiobuf(offset: 0, length: 4096)]),
                                                        ByteBuffer(bytes: [1, 2, 3, 4, 5])],
                                              bulk: .write([pattern(4096, seed: 1)])).reply.status
        XCTAssertEqual(status, -EPROTO)
        let size = try await good.getattr(id).size
        XCTAssertEqual(size, 0)
        try await assertStillServes(good)
    }

    func testOffsetOverflowIsEFBIG() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let id = OSTObjectID(objectID: try await good.precreate(count: 1).lowerBound)
        let wrapping = try await brw(rpcImport, .write, id, [OSTNiobuf(offset: .max - 100, length: 4096)],
                                     bulk: .write([pattern(4096, seed: 1)]))
        XCTAssertEqual(wrapping, -EFBIG)
        let beyond = try await brw(rpcImport, .read, id, [OSTNiobuf(offset: OSTBRWLimits.maxObjectSize, length: 4096)],
                                   bulk: .read(maxLength: 4096))
        XCTAssertEqual(beyond, -EFBIG)
        // The OSC refuses the same before sending anything.
        await assertErrno(EFBIG) { try await good.write(object: id, offset: .max - 100, data: pattern(4096, seed: 1)) }
        try await assertStillServes(good)
    }

    func testOversizeBulkIsRefusedBeforeAllocating() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let id = OSTObjectID(objectID: try await good.precreate(count: 1).lowerBound)
        let halves = [OSTNiobuf(offset: 0, length: 3 << 20), OSTNiobuf(offset: 3 << 20, length: 3 << 20)]
        let status = try await brw(rpcImport, .write, id, halves, bulk: .write([pattern(6 << 20, seed: 2)]))
        XCTAssertEqual(status, -EINVAL)
        let huge = try await brw(rpcImport, .read, id, [OSTNiobuf(offset: 0, length: .max)], bulk: .read(maxLength: 4096))
        XCTAssertEqual(huge, -EINVAL)
        let actual1 = try await good.getattr(id).size
        XCTAssertEqual(actual1, 0, "nothing of the refused write landed")
        try await assertStillServes(good)
    }

    func testTooManyOrEmptyPiecesAreEINVAL() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let id = OSTObjectID(objectID: try await good.precreate(count: 1).lowerBound)
        let many = (0..<(OSTBRWLimits.maxPieces + 1)).map { OSTNiobuf(offset: UInt64($0) * 8, length: 1) }
        let actual2 = try await brw(rpcImport, .read, id, many, bulk: .read(maxLength: many.count))
        XCTAssertEqual(actual2, -EINVAL)
        let actual3 = try await brw(rpcImport, .read, id, [OSTNiobuf(offset: 0, length: 0)], bulk: .read(maxLength: 1))
        XCTAssertEqual(actual3,
                       -EINVAL)
        try await assertStillServes(good)
    }

    func testUnknownOpcodeIsEOPNOTSUPP() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        for opcode: UInt32 in [0, 7, 11, 12, 255, 0x7fff_ffff] {
            let status = try await rpcImport.call(opcode: opcode, buffers: [encode(obdo(OSTObjectID(objectID: 1)))])
                .reply.status
            XCTAssertEqual(status, -EOPNOTSUPP, "opcode \(opcode)")
        }
        try await assertStillServes(good)
    }

    func testMissingOrTruncatedBuffersAreEPROTO() async throws {
        let oss = try await makeOSS()
        let good = try await oss.osc()
        let rpcImport = try await oss.rawImport()
        let actual4 = try await rpcImport.call(opcode: OSTOpcode.getattr.rawValue, buffers: []).reply.status
        XCTAssertEqual(actual4, -EPROTO)
        let actual5 = try await rpcImport.call(opcode: OSTOpcode.getattr.rawValue, buffers: [ByteBuffer(bytes: [1, 2, 3])]).reply.status
        XCTAssertEqual(actual5, -EPROTO)
        let actual6 = try await rpcImport.call(opcode: OSTOpcode.write.rawValue, buffers: [encode(obdo(OSTObjectID(objectID: 1)))]).reply.status
        XCTAssertEqual(actual6, -EPROTO)
        try await assertStillServes(good)
    }

    func testPrecreateOfZeroOrTooManyIsEINVAL() async throws {
        let oss = try await makeOSS()
        let rpcImport = try await oss.rawImport()
        for count: UInt32 in [0, OSTPrecreateCount.maximum + 1] {
            let status = try await rpcImport.call(opcode: OSTOpcode.create.rawValue,
                                                  buffers: [encode(obdo(OSTObjectID(objectID: 0))),
                                                            OSTPrecreateCount(count: count).encoded()]).reply.status
            XCTAssertEqual(status, -EINVAL, "count \(count)")
        }
    }

    func testConnectToAnUnservedTargetIsENODEV() async throws {
        let oss = try await makeOSS()
        do {
            _ = try await oss.osc("testfs-OST0007")
            XCTFail("connected to a target the OSS does not serve")
        } catch let error as LustreError {
            XCTAssertEqual(error.errno, ENODEV, "\(error)")
        }
    }
}
