import LibCFS
import NIOCore
import NIOEmbedded
import LustreTestSupport
import XCTest

@testable import LNet

#if canImport(Glibc)
import Glibc
#endif

/// The decoders face bytes from anyone who can open a TCP connection: every
/// input must give a value or a LustreError, never a trap or a huge allocation.
final class DecoderFuzzTests: XCTestCase {
    let alice = ProcessID(nid: NID(address: 0x7f00_0002))
    let bob = ProcessID(nid: NID(address: 0x7f00_0003))

    private func helloBytes(_ type: LNetConnectionType = .control) -> [UInt8] {
        var buffer = ByteBuffer()
        LNetHello(connectionType: type, source: alice, destinationNID: bob.nid, destinationPID: bob.pid,
                  sourceIncarnation: 7, destinationIncarnation: 0).encode(into: &buffer)
        return Array(buffer: buffer)
    }

    private func headerBytes(_ header: LNetHeader) -> [UInt8] {
        var buffer = ByteBuffer()
        header.encode(into: &buffer)
        return Array(buffer: buffer)
    }

    private func seeds() -> [[UInt8]] {
        var seeds = [helloBytes(.control), helloBytes(.bulk), headerBytes(.noop(from: alice, to: bob))]
        for type in [LNetMessageType.ack, .put, .get, .reply] {
            seeds.append(headerBytes(LNetHeader(type: type, payloadLength: type == .put ? 100 : 0, source: alice,
                                                destination: bob, portal: 4, matchBits: 99, cookie: 5, length: 100)))
        }
        return seeds
    }

    func testHeaderAndHelloDecodersNeverTrapOnRandomOrMutatedInput() {
        var rng = SplitMix64(seed: 0x1ae7_2024)
        let seeds = seeds()
        var decodedHeaders = 0, decodedHellos = 0
        for iteration in 0..<100_000 {
            let bytes: [UInt8]
            if iteration % 10 == 0 {
                bytes = rng.bytes(Int.random(in: 0...200, using: &rng))
            } else {
                bytes = mutate(seeds[iteration % seeds.count], using: &rng)
            }
            let input = ByteBuffer(bytes: bytes)

            var buffer = input
            do {
                let header = try LNetHeader(decoding: &buffer)
                decodedHeaders += 1
                if Int(header.payloadLength) > LNetLimits.maxPayload || input.readableBytes - buffer.readableBytes != LNetHeader.size {
                    XCTFail("iteration \(iteration): accepted \(header) consuming \(input.readableBytes - buffer.readableBytes) bytes")
                }
                var again = ByteBuffer()
                header.encode(into: &again)
                if (try? LNetHeader(decoding: &again)) != header { XCTFail("re-encoding changed iteration \(iteration)") }
            } catch {
                if error.context.isEmpty { XCTFail("iteration \(iteration): error without context") }
            }

            buffer = input
            do {
                let hello = try LNetHello(decoding: &buffer)
                decodedHellos += 1
                var again = ByteBuffer()
                hello.encode(into: &again)
                if (try? LNetHello(decoding: &again)) != hello { XCTFail("re-encoding changed iteration \(iteration)") }
            } catch {
                if error.context.isEmpty { XCTFail("iteration \(iteration): error without context") }
            }
        }
        // The mutations must leave some inputs valid, or the test would only exercise the error paths.
        XCTAssertGreaterThan(decodedHeaders, 1000)
        XCTAssertGreaterThan(decodedHellos, 1000)
    }

    // MARK: LNetFrameDecoder

    private func makeChannel(plan: LNetReadPlan = LNetReadPlan()) -> EmbeddedChannel {
        EmbeddedChannel(handler: LNetFrameDecoder(plan: plan))
    }

    /// Feeds `stream` as a socket would: each read goes into the buffer the
    /// frame read allocator hands out (or the continuation the decoder parked),
    /// taking at most what that buffer can hold and at most `maxRead` bytes.
    private func feedLikeSocket(_ stream: [UInt8], to channel: EmbeddedChannel, plan: LNetReadPlan,
                                rng: inout SplitMix64, maxRead: Int) throws {
        let allocator = LNetFrameReadAllocator(plan: plan)
        var offset = 0
        while offset < stream.count {
            var buffer = allocator.buffer(allocator: channel.allocator)
            let room = buffer.writableBytes
            XCTAssertGreaterThan(room, 0, "allocator handed out a full buffer")
            guard room > 0 else { return }
            let count = min(room, stream.count - offset, Int.random(in: 1...maxRead, using: &rng))
            buffer.writeBytes(stream[offset..<offset + count])
            offset += count
            try channel.writeInbound(buffer)
        }
    }

    private func drain(_ channel: EmbeddedChannel) throws -> [LNetInbound] {
        var out: [LNetInbound] = []
        while let item = try channel.readInbound(as: LNetInbound.self) { out.append(item) }
        return out
    }

    func testFrameDecoderSplitsHelloAndFramesFedByteByByte() throws {
        let channel = makeChannel()
        defer { _ = try? channel.finish() }
        let payload = Array(0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        var stream = helloBytes()
        stream += headerBytes(LNetHeader(type: .put, payloadLength: UInt32(payload.count), source: alice,
                                         destination: bob, portal: 3, matchBits: 11))
        stream += payload
        stream += headerBytes(.noop(from: alice, to: bob))
        stream += headerBytes(LNetHeader(type: .get, source: alice, destination: bob, portal: 3, matchBits: 12,
                                         length: 64))
        var items: [LNetInbound] = []
        for byte in stream {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
            items += try drain(channel)
        }
        XCTAssertEqual(items.count, 4)
        guard items.count == 4 else { return }
        guard case .hello(let hello) = items[0] else { return XCTFail("first item is \(items[0])") }
        XCTAssertEqual(hello.source, alice)
        guard case .message(let put) = items[1] else { return XCTFail("second item is \(items[1])") }
        XCTAssertEqual(put.header.matchBits, 11)
        XCTAssertEqual(Array(buffer: put.payload), payload)
        guard case .noop = items[2] else { return XCTFail("third item is \(items[2])") }
        guard case .message(let get) = items[3] else { return XCTFail("fourth item is \(items[3])") }
        XCTAssertEqual(get.header.type, .get)
        XCTAssertEqual(get.payload.readableBytes, 0)
    }

    func testFrameDecoderHandsOutWholePayloadFromOneRead() throws {
        let channel = makeChannel()
        defer { _ = try? channel.finish() }
        let payload = [UInt8](repeating: 0xab, count: 70_000)
        let stream = helloBytes() + headerBytes(LNetHeader(type: .put, payloadLength: UInt32(payload.count),
                                                           source: alice, destination: bob)) + payload
        try channel.writeInbound(ByteBuffer(bytes: stream))
        let items = try drain(channel)
        XCTAssertEqual(items.count, 2)
        guard items.count == 2, case .message(let message) = items[1] else { return XCTFail("no message") }
        XCTAssertEqual(Array(buffer: message.payload), payload)
    }

    func testFrameDecoderRejectsOversizePayloadLengthWithoutWaitingForIt() throws {
        let channel = makeChannel()
        defer { _ = try? channel.finish() }
        try channel.writeInbound(ByteBuffer(bytes: helloBytes()))
        var header = headerBytes(LNetHeader(type: .put, source: alice, destination: bob))
        header.replaceSubrange(12..<16, with: [0xff, 0xff, 0xff, 0xff])   // payloadLength = 4 GiB - 1
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(bytes: header))) { error in
            XCTAssertEqual((error as? LustreError)?.errno, EPROTO, "\(error)")
        }
        // Nothing but the hello came out, and a failed decoder ignores whatever follows.
        let items = try drain(channel)
        XCTAssertEqual(items.count, 1)
        XCTAssertNoThrow(try channel.writeInbound(ByteBuffer(bytes: [UInt8](repeating: 0, count: 1000))))
        XCTAssertEqual(try drain(channel).count, 0)
    }

    func testFrameDecoderRejectsGarbageInsteadOfHello() throws {
        let channel = makeChannel()
        defer { _ = try? channel.finish() }
        XCTAssertThrowsError(try channel.writeInbound(ByteBuffer(string: String(repeating: "GET / HTTP/1.1\r\n", count: 8)))) { error in
            XCTAssertEqual((error as? LustreError)?.errno, EPROTO, "\(error)")
        }
        XCTAssertEqual(try drain(channel).count, 0)
    }

    func testBulkConnectionFrameAlignedReadsDeliverPayloadsIntact() throws {
        var rng = SplitMix64(seed: 0xb01c)
        var stream = helloBytes(.bulk)
        var payloads: [[UInt8]] = []
        for i in 0..<20 {
            let payload = rng.bytes(i % 4 == 0 ? 1 : Int.random(in: 1...30_000, using: &rng))
            payloads.append(payload)
            stream += headerBytes(LNetHeader(type: .put, payloadLength: UInt32(payload.count), source: alice,
                                             destination: bob, matchBits: UInt64(i)))
            stream += payload
            if i % 3 == 0 { stream += headerBytes(.noop(from: alice, to: bob)) }
        }
        for maxRead in [61, 4096, 70_000, 1 << 20] {
            let plan = LNetReadPlan()
            let channel = makeChannel(plan: plan)
            defer { _ = try? channel.finish() }
            try feedLikeSocket(stream, to: channel, plan: plan, rng: &rng, maxRead: maxRead)
            var received: [[UInt8]] = []
            for item in try drain(channel) {
                if case .message(let message) = item {
                    XCTAssertEqual(message.header.matchBits, UInt64(received.count))
                    received.append(Array(buffer: message.payload))
                }
            }
            XCTAssertEqual(received.count, payloads.count, "reads of at most \(maxRead) bytes")
            XCTAssertTrue(received == payloads, "payload corrupted with reads of at most \(maxRead) bytes")
        }
    }

    func testFrameDecoderNeverTrapsOnRandomStreams() throws {
        var rng = SplitMix64(seed: 0x57_2ea7)
        let seeds = seeds()
        var messages = 0
        for iteration in 0..<3000 {
            let channel = makeChannel()
            var stream = iteration % 3 == 0 ? [] : helloBytes()
            for _ in 0..<Int.random(in: 0...6, using: &rng) {
                var frame = mutate(seeds[Int.random(in: 2..<seeds.count, using: &rng)], using: &rng)
                if Bool.random(using: &rng) { frame += rng.bytes(Int.random(in: 0...300, using: &rng)) }
                stream += frame
            }
            if iteration % 5 == 0 { stream = mutate(stream, using: &rng) }
            var offset = 0
            while offset < stream.count {
                let chunk = min(stream.count - offset, Int.random(in: 1...128, using: &rng))
                do {
                    try channel.writeInbound(ByteBuffer(bytes: stream[offset..<offset + chunk]))
                } catch {
                    XCTAssertNotNil(error as? LustreError, "iteration \(iteration): \(error)")
                }
                offset += chunk
            }
            while let item = try channel.readInbound(as: LNetInbound.self) {
                if case .message(let message) = item {
                    messages += 1
                    XCTAssertEqual(message.payload.readableBytes, Int(message.header.payloadLength))
                }
            }
            _ = try? channel.finish()
        }
        XCTAssertGreaterThan(messages, 100, "the streams should carry some valid frames")
    }
}
