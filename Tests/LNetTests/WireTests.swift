import LibCFS
import NIOCore
import XCTest

@testable import LNet

#if canImport(Glibc)
import Glibc
#endif

final class WireTests: XCTestCase {
    let alice = ProcessID(nid: NID(address: 0x7f00_0002), pid: 12345)
    let bob = ProcessID(nid: NID(address: 0x0a01_0203, netType: .tcp, netNumber: 4), pid: 0x8000_1234)

    private func encoded(_ hello: LNetHello) -> ByteBuffer {
        var buffer = ByteBuffer()
        hello.encode(into: &buffer)
        return buffer
    }

    private func encoded(_ header: LNetHeader) -> ByteBuffer {
        var buffer = ByteBuffer()
        header.encode(into: &buffer)
        return buffer
    }

    private func sampleHeader(_ type: LNetMessageType) -> LNetHeader {
        LNetHeader(type: type, payloadLength: type == .put || type == .reply ? 4096 : 0, source: alice,
                   destination: bob, portal: 28, flagsOrStatus: type == .reply ? -ENOENT : 1,
                   matchBits: 0xdead_beef_0000_0001, headerData: 0x0123_4567_89ab_cdef, cookie: .max - 3,
                   length: type == .get ? 1 << 20 : 17)
    }

    // MARK: LNetHello

    func testHelloRoundTrips() throws {
        for type in LNetConnectionType.allCases {
            let hello = LNetHello(connectionType: type, source: alice, destinationNID: bob.nid, destinationPID: bob.pid,
                                  sourceIncarnation: 0x1122_3344_5566_7788, destinationIncarnation: 42)
            var buffer = encoded(hello)
            XCTAssertEqual(buffer.readableBytes, LNetHello.size)
            XCTAssertEqual(try LNetHello(decoding: &buffer), hello)
            XCTAssertEqual(buffer.readableBytes, 0, "decoding consumes exactly the hello")
        }
    }

    func testHelloStartsWithSocklndMagicLittleEndian() {
        let buffer = encoded(LNetHello(connectionType: .control, source: alice, destinationNID: bob.nid,
                                       destinationPID: bob.pid, sourceIncarnation: 1, destinationIncarnation: 0))
        XCTAssertEqual(buffer.getBytes(at: 0, length: 4), [0xed, 0x0d, 0xbc, 0xee])
    }

    func testHelloDecodeRejectsBadMagicVersionTypeAndTruncation() {
        let good = Array(buffer: encoded(LNetHello(connectionType: .bulk, source: alice, destinationNID: bob.nid,
                                                   destinationPID: bob.pid, sourceIncarnation: 1,
                                                   destinationIncarnation: 0)))
        var cases: [(String, [UInt8])] = []
        var bytes = good; bytes[0] ^= 0xff; cases.append(("magic", bytes))
        bytes = good; bytes[4] = 9; cases.append(("major version", bytes))
        bytes = good; bytes[8] = 3; cases.append(("connection type", bytes))
        bytes = good; bytes[22] = 0x55; cases.append(("source network type", bytes))
        cases.append(("truncated", Array(good.dropLast())))
        cases.append(("empty", []))
        for (what, bytes) in cases {
            var buffer = ByteBuffer(bytes: bytes)
            XCTAssertThrowsError(try LNetHello(decoding: &buffer), what) { error in
                XCTAssertEqual((error as? LustreError)?.errno, EPROTO, what)
            }
        }
    }

    // MARK: LNetHeader

    func testHeaderRoundTripsForEveryMessageType() throws {
        for type in [LNetMessageType.ack, .put, .get, .reply] {
            let header = sampleHeader(type)
            var buffer = encoded(header)
            XCTAssertEqual(buffer.readableBytes, LNetHeader.size)
            let decoded = try LNetHeader(decoding: &buffer)
            XCTAssertEqual(decoded, header, "\(type)")
            XCTAssertEqual(decoded.frameType, .message)
            XCTAssertEqual(buffer.readableBytes, 0)
        }
    }

    func testNoopHeaderRoundTrips() throws {
        let noop = LNetHeader.noop(from: alice, to: bob)
        var buffer = encoded(noop)
        let decoded = try LNetHeader(decoding: &buffer)
        XCTAssertEqual(decoded, noop)
        XCTAssertEqual(decoded.frameType, .noop)
        XCTAssertEqual(decoded.payloadLength, 0)
    }

    func testHeaderRoundTripsLoopbackAndExtremeValues() throws {
        let header = LNetHeader(type: .put, payloadLength: UInt32(LNetLimits.maxPayload), source: ProcessID(nid: .loopback),
                                destination: ProcessID(nid: NID(address: .max, netType: .tcp, netNumber: .max), pid: .max),
                                portal: .max, flagsOrStatus: .min, matchBits: .max, headerData: .max, cookie: 0,
                                length: .max)
        var buffer = encoded(header)
        XCTAssertEqual(try LNetHeader(decoding: &buffer), header)
    }

    func testHeaderDecodeRejectsPayloadOverTheCap() {
        var header = sampleHeader(.put)
        header.payloadLength = UInt32(LNetLimits.maxPayload) + 1
        var buffer = encoded(header)
        XCTAssertThrowsError(try LNetHeader(decoding: &buffer)) { error in
            XCTAssertEqual((error as? LustreError)?.errno, EPROTO)
        }
    }

    func testHeaderDecodeRejectsKeepaliveWithPayload() {
        var noop = LNetHeader.noop(from: alice, to: bob)
        noop.payloadLength = 1
        var buffer = encoded(noop)
        XCTAssertThrowsError(try LNetHeader(decoding: &buffer)) { error in
            XCTAssertEqual((error as? LustreError)?.errno, EPROTO)
        }
    }

    func testHeaderDecodeRejectsBadFields() {
        let good = Array(buffer: encoded(sampleHeader(.get)))
        var cases: [(String, [UInt8])] = []
        var bytes = good; bytes[3] ^= 0x01; cases.append(("magic", bytes))
        bytes = good; bytes[4] = 2; cases.append(("version", bytes))
        bytes = good; bytes[6] = 3; cases.append(("frame type", bytes))
        bytes = good; bytes[8] = 4; cases.append(("message type", bytes))
        bytes = good; bytes[22] = 0x05; cases.append(("source network type", bytes))
        bytes = good; bytes[30] = 0x05; cases.append(("destination network type", bytes))
        cases.append(("truncated", Array(good.prefix(LNetHeader.size - 1))))
        for (what, bytes) in cases {
            var buffer = ByteBuffer(bytes: bytes)
            XCTAssertThrowsError(try LNetHeader(decoding: &buffer), what) { error in
                XCTAssertEqual((error as? LustreError)?.errno, EPROTO, what)
            }
        }
    }
}
