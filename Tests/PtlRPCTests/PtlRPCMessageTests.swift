import LibCFS
import NIOCore
import LustreTestSupport
import XCTest

@testable import PtlRPC

#if canImport(Glibc)
import Glibc
#endif

final class PtlRPCMessageTests: XCTestCase {
    private func sample(buffers: [ByteBuffer]) -> PtlRPCMessage {
        var message = PtlRPCMessage(opcode: 4, xid: 0x0123_4567_89ab_cdef, buffers: buffers)
        message.status = -ENOENT
        message.flags = [.resent, .replay]
        message.connectionCount = 3
        message.timeout = 7
        message.serviceTime = 1234
        message.bulkChecksumType = ChecksumType.crc32c.rawValue
        message.bulkChecksum = 0xdead_beef
        message.transno = 99
        message.lastCommitted = 98
        message.lastXid = 0x0123_4567_89ab_cdee
        message.handle = 0xfeed_f00d
        message.jobID = "dd.1000"
        return message
    }

    func testRoundTripsWithoutBuffers() throws {
        let message = sample(buffers: [])
        let encoded = message.encoded()
        XCTAssertEqual(encoded.readableBytes, PtlRPCMessage.fixedSize)
        XCTAssertEqual(try PtlRPCMessage(decoding: encoded), message)
    }

    func testRoundTripsWithSeveralOddLengthBuffers() throws {
        var rng = SplitMix64(seed: 11)
        let lengths = [1, 0, 7, 8, 9, 13, 4096, 3]
        let message = sample(buffers: lengths.map { ByteBuffer(bytes: rng.bytes($0)) })
        let encoded = message.encoded()
        XCTAssertEqual(encoded.readableBytes, message.encodedSize)
        XCTAssertEqual(encoded.readableBytes,
                       PtlRPCMessage.fixedSize + 4 * lengths.count + lengths.map { ($0 + 7) / 8 * 8 }.reduce(0, +))
        let decoded = try PtlRPCMessage(decoding: encoded)
        XCTAssertEqual(decoded, message)
        XCTAssertEqual(decoded.buffers.map(\.readableBytes), lengths)
    }

    func testPaddingBytesAreZero() throws {
        let message = PtlRPCMessage(opcode: 1, xid: 1, buffers: [ByteBuffer(bytes: [0xff, 0xff, 0xff])])
        let encoded = message.encoded()
        let start = PtlRPCMessage.fixedSize + 4
        XCTAssertEqual(encoded.getBytes(at: start, length: 8), [0xff, 0xff, 0xff, 0, 0, 0, 0, 0])
    }

    func testRoundTripsMaximumBufferCount() throws {
        let message = sample(buffers: (0..<PtlRPCMessage.maxBuffers).map { ByteBuffer(string: String(repeating: "x", count: $0)) })
        XCTAssertEqual(try PtlRPCMessage(decoding: message.encoded()), message)
    }

    func testJobIDRoundTripsAndIsCappedAt31Bytes() throws {
        var message = sample(buffers: [])
        message.jobID = "exactly-thirty-one-bytes-long!!"
        XCTAssertEqual(message.jobID.utf8.count, 31)
        XCTAssertEqual(try PtlRPCMessage(decoding: message.encoded()).jobID, message.jobID)
        message.jobID = String(repeating: "j", count: 40)
        XCTAssertEqual(try PtlRPCMessage(decoding: message.encoded()).jobID, String(repeating: "j", count: 31))
        message.jobID = ""
        XCTAssertEqual(try PtlRPCMessage(decoding: message.encoded()).jobID, "")
    }

    func testFlagsRoundTripIncludingUnknownBits() throws {
        var message = sample(buffers: [])
        message.flags = PtlRPCMessage.Flags(rawValue: 0x8000_0006)
        XCTAssertEqual(try PtlRPCMessage(decoding: message.encoded()).flags.rawValue, 0x8000_0006)
    }

    func testDecodedBuffersAreSlicesOfTheInput() throws {
        let message = PtlRPCMessage(opcode: 1, xid: 2, buffers: [ByteBuffer(string: "abc"), ByteBuffer(string: "defghijkl")])
        let decoded = try PtlRPCMessage(decoding: message.encoded())
        XCTAssertEqual(decoded.buffers.map { String(buffer: $0) }, ["abc", "defghijkl"])
        XCTAssertEqual(try decoded.buffer(1, "second"), ByteBuffer(string: "defghijkl"))
    }

    func testMissingBufferIsEPROTONamingIt() {
        let message = PtlRPCMessage(opcode: 77, xid: 2, buffers: [])
        XCTAssertThrowsError(try message.buffer(0, "target UUID")) { error in
            let error = error as? LustreError
            XCTAssertEqual(error?.errno, EPROTO)
            XCTAssertTrue(error?.context.contains("target UUID") ?? false, "\(String(describing: error))")
        }
    }

    // MARK: Decode errors

    private func assertEPROTO(_ bytes: [UInt8], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try PtlRPCMessage(decoding: ByteBuffer(bytes: bytes)), what, file: file, line: line) { error in
            XCTAssertEqual((error as? LustreError)?.errno, EPROTO, "\(what): \(error)", file: file, line: line)
        }
    }

    private func poke(_ bytes: inout [UInt8], at offset: Int, _ value: UInt32) {
        for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k))) }
    }

    func testDecodeRejectsBadMagic() {
        var bytes = Array(buffer: sample(buffers: []).encoded())
        poke(&bytes, at: 0, 0x0bd0_0bd0)
        assertEPROTO(bytes, "bad magic")
    }

    func testDecodeRejectsBadVersion() {
        var bytes = Array(buffer: sample(buffers: []).encoded())
        poke(&bytes, at: 4, 0x0003_0002)
        assertEPROTO(bytes, "bad version")
    }

    func testDecodeRejectsTruncatedFixedPart() {
        let bytes = Array(buffer: sample(buffers: []).encoded())
        for length in [0, 1, 4, 64, PtlRPCMessage.fixedSize - 1] {
            assertEPROTO(Array(bytes.prefix(length)), "truncated to \(length)")
        }
    }

    func testDecodeRejectsTooManyBuffers() {
        var bytes = Array(buffer: sample(buffers: []).encoded())
        poke(&bytes, at: PtlRPCMessage.fixedSize - 4, UInt32(PtlRPCMessage.maxBuffers + 1))
        bytes += [UInt8](repeating: 0, count: 4 * (PtlRPCMessage.maxBuffers + 1))
        assertEPROTO(bytes, "17 buffers")
        poke(&bytes, at: PtlRPCMessage.fixedSize - 4, .max)
        assertEPROTO(bytes, "4G buffers")
    }

    func testDecodeRejectsTruncatedBufferLengths() {
        var bytes = Array(buffer: sample(buffers: [ByteBuffer(string: "a"), ByteBuffer(string: "b")]).encoded())
        bytes = Array(bytes.prefix(PtlRPCMessage.fixedSize + 4))
        assertEPROTO(bytes, "only one of two lengths")
    }

    func testDecodeRejectsBufferLengthOverrunningTheMessage() {
        var bytes = Array(buffer: sample(buffers: [ByteBuffer(string: "12345678"), ByteBuffer(string: "abc")]).encoded())
        poke(&bytes, at: PtlRPCMessage.fixedSize + 4, 9)          // second buffer: 3 -> 9 bytes, only 8 follow
        assertEPROTO(bytes, "second buffer overruns")
        poke(&bytes, at: PtlRPCMessage.fixedSize, .max)           // first buffer: 4 GiB
        assertEPROTO(bytes, "first buffer 4 GiB")
    }

    func testDecodeRejectsTruncatedBufferData() {
        let bytes = Array(buffer: sample(buffers: [ByteBuffer(string: "0123456789abcdef")]).encoded())
        assertEPROTO(Array(bytes.dropLast(1)), "last byte missing")
    }

    func testDecoderNeverTrapsOnRandomOrMutatedInput() {
        var rng = SplitMix64(seed: 0x9721_c0de)
        var seeds: [[UInt8]] = []
        for count in [0, 1, 3, 16] {
            seeds.append(Array(buffer: sample(buffers: (0..<count).map { ByteBuffer(bytes: rng.bytes($0 * 5 + 1)) }).encoded()))
        }
        var decoded = 0
        for iteration in 0..<100_000 {
            var bytes: [UInt8]
            if iteration % 10 == 0 {
                bytes = rng.bytes(Int.random(in: 0...400, using: &rng))
            } else {
                bytes = seeds[iteration % seeds.count]
                for _ in 0...Int.random(in: 0...3, using: &rng) {
                    switch Int.random(in: 0..<5, using: &rng) {
                    case 0 where !bytes.isEmpty:
                        bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                    case 1:
                        bytes.removeLast(Int.random(in: 0...bytes.count, using: &rng))
                    case 2:
                        bytes.insert(contentsOf: rng.bytes(Int.random(in: 1...9, using: &rng)),
                                     at: Int.random(in: 0...bytes.count, using: &rng))
                    case 3 where bytes.count >= PtlRPCMessage.fixedSize + 4:
                        // A random buffer count or buffer length: the fields that size allocations.
                        let offset = PtlRPCMessage.fixedSize - 4 + 4 * Int.random(in: 0...1, using: &rng)
                        let values: [UInt32] = [0, 1, 15, 16, 17, 0x7fff_ffff, .max, UInt32(truncatingIfNeeded: rng.next())]
                        poke(&bytes, at: offset, values.randomElement(using: &rng)!)
                    default:
                        bytes += rng.bytes(Int.random(in: 1...32, using: &rng))
                    }
                }
            }
            do {
                let message = try PtlRPCMessage(decoding: ByteBuffer(bytes: bytes))
                decoded += 1
                if message.buffers.count > PtlRPCMessage.maxBuffers || message.encodedSize > bytes.count + 8 * message.buffers.count {
                    XCTFail("iteration \(iteration): implausible message decoded")
                }
            } catch {
                if error.errno != EPROTO { XCTFail("iteration \(iteration): \(error)") }
            }
        }
        XCTAssertGreaterThan(decoded, 1000, "mutations should leave some messages valid")
    }
}
