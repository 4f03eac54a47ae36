import LibCFS
import NIOCore
import ObdClass
import XCTest

/// The OST wire records: each round-trips, and no byte string makes a decoder trap.
final class OSTWireTests: XCTestCase {
    func testOpcodesHaveLustreValues() {
        XCTAssertEqual(OSTOpcode.getattr.rawValue, 1)
        XCTAssertEqual(OSTOpcode.write.rawValue, 4)
        XCTAssertEqual(OSTOpcode.connect.rawValue, 8)
        XCTAssertEqual(OSTOpcode.punch.rawValue, 10)
        XCTAssertEqual(OSTOpcode.statfs.rawValue, 13)
        XCTAssertEqual(OSTOpcode.sync.rawValue, 16)
        XCTAssertEqual(OSTOpcode.ping.rawValue, 400)
        XCTAssertEqual(OSTOpcode.write.description, "ost_write")
    }

    func testNiobufArrayRoundTrips() throws {
        let niobufs = [OSTNiobuf(offset: 0, length: 4096), OSTNiobuf(offset: 1 << 40, length: 1 << 20, flags: 0x20)]
        let encoded = OSTNiobuf.encode(niobufs)
        XCTAssertEqual(encoded.readableBytes, 2 * OSTNiobuf.wireSize)
        XCTAssertEqual(try OSTNiobuf.decodeArray(encoded), niobufs)
    }

    func testNiobufEndReportsOverflow() {
        XCTAssertEqual(OSTNiobuf(offset: 10, length: 5).end, 15)
        XCTAssertNil(OSTNiobuf(offset: .max - 2, length: 5).end)
    }

    func testNiobufArrayRefusesTooManyPiecesBeforeDecoding() {
        var buffer = ByteBuffer()
        buffer.writeRepeatingByte(0, count: (OSTBRWLimits.maxPieces + 1) * OSTNiobuf.wireSize)
        XCTAssertThrowsError(try OSTNiobuf.decodeArray(buffer)) { XCTAssertEqual(($0 as? LustreError)?.errno, EINVAL) }
    }

    func testNiobufArrayRefusesRaggedOrEmptyBuffers() {
        XCTAssertThrowsError(try OSTNiobuf.decodeArray(ByteBuffer(bytes: [1, 2, 3])))
        XCTAssertThrowsError(try OSTNiobuf.decodeArray(ByteBuffer()))
    }

    func testReturnCodesRoundTripAndCheckTheCount() throws {
        let codes = OSTBRWReturnCodes(counts: [4096, 0, 17])
        XCTAssertEqual(try OSTBRWReturnCodes(decoding: codes.encoded(), expected: 3), codes)
        XCTAssertThrowsError(try OSTBRWReturnCodes(decoding: codes.encoded(), expected: 2))
    }

    func testPrecreateCountRoundTrips() throws {
        var buffer = OSTPrecreateCount(count: 32).encoded()
        XCTAssertEqual(buffer.readableBytes, OSTPrecreateCount.wireSize)
        XCTAssertEqual(try OSTPrecreateCount(decoding: &buffer), OSTPrecreateCount(count: 32))
    }

    func testStatfsRoundTripsIn144Bytes() throws {
        var statfs = ObdStatfs()
        statfs.type = ObdStatfs.ext4Magic
        statfs.blocks = 1000
        statfs.blocksFree = 900
        statfs.blocksAvailable = 850
        statfs.files = 64
        statfs.filesFree = 60
        statfs.fsid = "testfs-OST0000_UUID"
        statfs.blockSize = 4096
        statfs.nameLength = 255
        statfs.maxBytes = OSTBRWLimits.maxObjectSize
        statfs.precreated = 3
        var buffer = statfs.encoded()
        XCTAssertEqual(buffer.readableBytes, ObdStatfs.wireSize)
        XCTAssertEqual(try ObdStatfs(decoding: &buffer), statfs)
        XCTAssertEqual(buffer.readableBytes, 0)
    }

    func testStatfsTruncatesAnOverlongFsid() throws {
        var statfs = ObdStatfs()
        statfs.fsid = String(repeating: "x", count: 60)
        var buffer = statfs.encoded()
        XCTAssertEqual(buffer.readableBytes, ObdStatfs.wireSize)
        XCTAssertEqual(try ObdStatfs(decoding: &buffer).fsid.count, 39)
    }

    /// Random bytes of random lengths: every decoder answers a value or an error.
    func testDecodersNeverTrapOnRandomBytes() {
        var state: UInt64 = 0x5eed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        for _ in 0..<2000 {
            let length = Int(next() % 200)
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) }
            let buffer = ByteBuffer(bytes: bytes)
            _ = try? OSTNiobuf.decodeArray(buffer)
            _ = try? OSTBRWReturnCodes(decoding: buffer, expected: Int(next() % 8))
            var copy = buffer
            _ = try? ObdStatfs(decoding: &copy)
            copy = buffer
            _ = try? OSTPrecreateCount(decoding: &copy)
            copy = buffer
            _ = try? ObdAttributes(decoding: &copy)
        }
    }
}
