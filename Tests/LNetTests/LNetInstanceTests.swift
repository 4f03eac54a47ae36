import LibCFS
import NIOCore
import NIOPosix
import Synchronization
import LustreTestSupport
import XCTest

@testable import LNet

#if canImport(Glibc)
import Glibc
#endif

/// Two LNet instances talking over real TCP on loopback: 127.0.0.2@tcp and
/// 127.0.0.3@tcp, sharing a random accept port as LNet nodes share port 988.
final class LNetInstanceTests: XCTestCase {
    static let nidA = NID(address: 0x7f00_0002)
    static let nidB = NID(address: 0x7f00_0003)
    static let nobody = NID(address: 0x7f00_0004)
    static let testPortal: UInt32 = 40

    /// Starts A and B on one random port, registering their shutdown as teardown.
    private func startPair(pageAlignedBulkOnB: Bool = false) async throws -> (LNetInstance, LNetInstance, Int) {
        var lastError: LustreError?
        for _ in 0..<8 {
            let port = randomTestPort()
            let a: LNetInstance
            do {
                a = try await LNetInstance.start(nid: Self.nidA, configuration: testConfiguration(port: port))
            } catch {
                lastError = error
                continue
            }
            do {
                var configurationB = testConfiguration(port: port)
                configurationB.pageAlignedBulk = pageAlignedBulkOnB
                let b = try await LNetInstance.start(nid: Self.nidB, configuration: configurationB)
                addTeardownBlock {
                    await a.shutdown()
                    await b.shutdown()
                }
                return (a, b, port)
            } catch {
                await a.shutdown()
                lastError = error
            }
        }
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free test port")
    }

    private func randomPayload(_ count: Int, seed: UInt64) -> ByteBuffer {
        var rng = SplitMix64(seed: seed)
        return ByteBuffer(bytes: rng.bytes(count))
    }

    func testPingReturnsLoopbackAndTCPProcessIDs() async throws {
        let (a, _, _) = try await startPair()
        let ids = try await a.ping(Self.nidB)
        XCTAssertEqual(ids.map(\.description), ["12345-0@lo", "12345-127.0.0.3@tcp"])
    }

    func testPingOfOwnNIDIsAnsweredLocally() async throws {
        let (a, _, _) = try await startPair()
        let ids = try await a.ping(Self.nidA)
        XCTAssertEqual(ids.map(\.description), ["12345-0@lo", "12345-127.0.0.2@tcp"])
    }

    func testPutDeliversPayloadAndMatchBitsToSink() async throws {
        let (a, b, _) = try await startPair()
        let arrived = b.eventLoopGroup.any().makePromise(of: LNetDelivery.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 0xabc, md: .sink(maxLength: 4096) { delivery in
            delivery.release()
            arrived.succeed(delivery)
        })
        let payload = ByteBuffer(string: "hello, bob")
        try await settle(a.put(to: b.processID, portal: Self.testPortal, matchBits: 0xabc, headerData: 77,
                             payload: payload), "PUT sent")
        let delivery = try await settle(arrived.futureResult, "PUT delivered")
        XCTAssertEqual(delivery.payload, payload)
        XCTAssertEqual(delivery.matchBits, 0xabc)
        XCTAssertEqual(delivery.headerData, 77)
        XCTAssertEqual(delivery.initiator, a.processID)
    }

    func testPutWithAckCompletesAfterDelivery() async throws {
        let (a, b, _) = try await startPair()
        let delivered = Atomic<Int>(0)
        _ = b.attach(portal: Self.testPortal, matchBits: 1, md: .sink(maxLength: 4096) { delivery in
            delivery.release()
            delivered.add(1, ordering: .relaxed)
        })
        try await settle(a.put(to: b.processID, portal: Self.testPortal, matchBits: 1,
                             payload: ByteBuffer(string: "acked"), ack: true), "ACK")
        XCTAssertEqual(delivered.load(ordering: .relaxed), 1, "the ACK must follow the delivery")
    }

    func testPutWithAckToNoMatchingDescriptorFailsWithENOENT() async throws {
        let (a, _, _) = try await startPair()
        do {
            try await settle(a.put(to: ProcessID(nid: Self.nidB), portal: Self.testPortal, matchBits: 999,
                                 payload: ByteBuffer(string: "nobody wants this"), ack: true), "NAK")
            XCTFail("PUT to nothing was acknowledged")
        } catch {
            XCTAssertEqual(lustreError(error)?.errno, ENOENT, "\(error)")
        }
    }

    func testPutLargerThanSinkFailsWithEMSGSIZE() async throws {
        let (a, b, _) = try await startPair()
        _ = b.attach(portal: Self.testPortal, matchBits: 3, md: .sink(maxLength: 10) { $0.release() })
        do {
            try await settle(a.put(to: b.processID, portal: Self.testPortal, matchBits: 3,
                                 payload: ByteBuffer(string: "eleven byte"), ack: true), "NAK")
            XCTFail("oversize PUT was acknowledged")
        } catch {
            XCTAssertEqual(lustreError(error)?.errno, EMSGSIZE, "\(error)")
        }
    }

    func testGetReturnsBytesOfSourceDescriptor() async throws {
        let (a, b, _) = try await startPair()
        let data = randomPayload(5000, seed: 1)
        let served = b.eventLoopGroup.any().makePromise(of: ProcessID.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 0x77, md: .source(data) { served.succeed($0) })
        let bytes = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 0x77, length: 8192), "REPLY")
        XCTAssertEqual(bytes, data)
        let initiator = try await settle(served.futureResult, "onGet")
        XCTAssertEqual(initiator, a.processID)
    }

    func testGetReturnsAtMostTheRequestedLength() async throws {
        let (a, b, _) = try await startPair()
        let data = randomPayload(5000, seed: 2)
        _ = b.attach(portal: Self.testPortal, matchBits: 0x78, md: .source(data))
        let bytes = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 0x78, length: 100), "REPLY")
        XCTAssertEqual(bytes, data.getSlice(at: data.readerIndex, length: 100))
    }

    /// A source of several buffers answers a GET with their bytes back to back (a gathered
    /// bulk: none copied into one first), across the bulk threshold and cut at the length asked.
    func testGetFromSeveralBuffersReturnsTheirConcatenation() async throws {
        let (a, b, _) = try await startPair()
        let parts = [randomPayload(300_000, seed: 11), randomPayload(4096, seed: 12), randomPayload(1_000_001, seed: 13),
                     randomPayload(17, seed: 14)]
        var whole = ByteBuffer()
        for part in parts { whole.writeImmutableBuffer(part) }
        _ = b.attach(portal: Self.testPortal, matchBits: 0x79, md: .source(parts: parts, threshold: nil))
        let all = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 0x79,
                                         length: whole.readableBytes), "REPLY")
        XCTAssertEqual(all, whole)
        let cut = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 0x79, length: 305_000),
                                   "REPLY")
        XCTAssertEqual(cut, whole.getSlice(at: whole.readerIndex, length: 305_000))
    }

    func testGetWithNoMatchFailsWithENOENT() async throws {
        let (a, b, _) = try await startPair()
        do {
            _ = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 0x79, length: 100), "REPLY")
            XCTFail("GET of nothing returned data")
        } catch {
            XCTAssertEqual(lustreError(error)?.errno, ENOENT, "\(error)")
        }
    }

    func testFourMiBPutArrivesIntact() async throws {
        let (a, b, _) = try await startPair()
        let data = randomPayload(4 << 20, seed: 3)
        let arrived = b.eventLoopGroup.any().makePromise(of: ByteBuffer.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 4, md: .sink(maxLength: 4 << 20) { delivery in
            delivery.release()
            arrived.succeed(delivery.payload)
        })
        try await settle(a.put(to: b.processID, portal: Self.testPortal, matchBits: 4, payload: data, ack: true), "ACK")
        let received = try await settle(arrived.futureResult, "4 MiB")
        XCTAssertEqual(received.readableBytes, data.readableBytes)
        XCTAssertTrue(received == data, "4 MiB payload corrupted")
    }

    /// With `pageAlignedBulk`, payloads of whole pages on the bulk connection (`minBulk` and
    /// over) arrive intact in page-aligned memory (what an OST's O_DIRECT write needs), in both
    /// directions of a bulk transfer (PUT, and the REPLY of a GET), also when freed blocks are
    /// reused; other payloads (small ones travel on the control connection) arrive intact.
    func testPageAlignedBulkArrivesAlignedAndIntact() async throws {
        let (a, b, _) = try await startPair(pageAlignedBulkOnB: true)
        func address(_ buffer: ByteBuffer) -> Int {
            buffer.withUnsafeReadableBytes { Int(bitPattern: $0.baseAddress) }
        }
        let sizes = [4 << 20, 4 << 20, 1 << 20, 5 * 4096, 3 * 4096, 5000, 40_000, 4 << 20]
        let minBulk = testConfiguration(port: 0).minBulk
        func expectsAlignment(_ size: Int) -> Bool { size % 4096 == 0 && size >= minBulk }
        for (round, size) in sizes.enumerated() {
            let data = randomPayload(size, seed: 100 + UInt64(round))
            let bits = 100 + UInt64(round)
            let arrived = b.eventLoopGroup.any().makePromise(of: ByteBuffer.self)
            _ = b.attach(portal: Self.testPortal, matchBits: bits, md: .sink(maxLength: size) { delivery in
                delivery.release()
                arrived.succeed(delivery.payload)
            })
            try await settle(a.put(to: b.processID, portal: Self.testPortal, matchBits: bits, payload: data, ack: true), "ACK")
            let received = try await settle(arrived.futureResult, "PUT of \(size)")
            XCTAssertTrue(received == data, "PUT of \(size) bytes corrupted")
            if expectsAlignment(size) {
                XCTAssertEqual(address(received) % 4096, 0, "PUT of \(size) bytes not page-aligned")
            }
            // B pulls the same bytes back from A: the REPLY's payload lands aligned too.
            _ = a.attach(portal: Self.testPortal, matchBits: bits, md: .source(data))
            let pulled = try await settle(b.get(from: a.processID, portal: Self.testPortal, matchBits: bits, length: size), "GET")
            XCTAssertTrue(pulled == data, "REPLY of \(size) bytes corrupted")
            if expectsAlignment(size) {
                XCTAssertEqual(address(pulled) % 4096, 0, "REPLY of \(size) bytes not page-aligned")
            }
        }
    }

    func testFourMiBGetArrivesIntact() async throws {
        let (a, b, _) = try await startPair()
        let data = randomPayload(4 << 20, seed: 4)
        _ = b.attach(portal: Self.testPortal, matchBits: 5, md: .source(data))
        let received = try await settle(a.get(from: b.processID, portal: Self.testPortal, matchBits: 5, length: 4 << 20), "REPLY")
        XCTAssertEqual(received.readableBytes, data.readableBytes)
        XCTAssertTrue(received == data, "4 MiB reply corrupted")
    }

    func testManySmallPutsAllArrive() async throws {
        let (a, b, _) = try await startPair()
        let count = 500
        let seen = Mutex(Set<UInt64>())
        let done = b.eventLoopGroup.any().makePromise(of: Void.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 0, ignoreBits: .max, md: .sink(maxLength: 64, threshold: nil) { delivery in
            delivery.release()
            let total = seen.withLock { $0.insert(delivery.matchBits); return $0.count }
            if total == count { done.succeed(()) }
        })
        for i in 0..<count {
            a.put(to: b.processID, portal: Self.testPortal, matchBits: UInt64(i), payload: ByteBuffer(string: "\(i)"))
        }
        try await settle(done.futureResult, "\(count) PUTs")
        XCTAssertEqual(seen.withLock { $0 }, Set((0..<count).map(UInt64.init)))
    }

    /// Frames queued faster than the loop writes them go out as batches: small payloads
    /// coalesced with their headers, large ones as buffers of their own, beyond the peer
    /// credits. Every one must arrive whole and in the order it was queued.
    func testBurstOfMixedSizePutsWithoutCompletionArrivesInOrderAndIntact() async throws {
        let (a, b, _) = try await startPair()
        let sizes = (0..<300).map { i in [0, 1, 100, 8 << 10, (8 << 10) + 1, 12_000][i % 6] }
        let received = Mutex([ByteBuffer]())
        let done = b.eventLoopGroup.any().makePromise(of: Void.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 7, md: .sink(maxLength: 16 << 10, threshold: nil) { delivery in
            delivery.release()
            let total = received.withLock { $0.append(delivery.payload); return $0.count }
            if total == sizes.count { done.succeed(()) }
        })
        _ = try await a.ping(b.nid) // connected first, so the burst queues on one connection
        let sent = sizes.enumerated().map { randomPayload($0.element, seed: UInt64($0.offset)) }
        for payload in sent {
            a.putWithoutCompletion(to: b.processID, portal: Self.testPortal, matchBits: 7, payload: payload)
        }
        try await settle(done.futureResult, "\(sizes.count) PUTs")
        XCTAssertTrue(received.withLock { $0 } == sent, "payloads reordered or corrupted")
    }

    /// Lone frames go out from the sender's thread; bursts through the loop; and
    /// once the receiver stops reading, direct writes meet a full socket and the loop
    /// finishes them. Whatever path each took, all arrive whole and in order.
    func testDirectAndLoopSendsInterleaveInOrderThroughAFullSocket() async throws {
        let (a, b, _) = try await startPair()
        let count = 1600
        let sizes = (0..<count).map { i in [0, 100, 8 << 10, 15_000, 40_000, 64 << 10][i % 6] }
        let received = Mutex([ByteBuffer]())
        let held = Mutex([LNetDelivery]())
        let holding = Atomic<Bool>(true)
        let done = b.eventLoopGroup.any().makePromise(of: Void.self)
        _ = b.attach(portal: Self.testPortal, matchBits: 9, md: .sink(maxLength: 64 << 10, threshold: nil) { delivery in
            // Unreleased deliveries use up the receive credits: the socket stops being read.
            if holding.load(ordering: .relaxed) {
                held.withLock { $0.append(delivery) }
            } else {
                delivery.release()
            }
            let total = received.withLock { $0.append(delivery.payload); return $0.count }
            if total == count { done.succeed(()) }
        })
        _ = try await a.ping(b.nid)
        let sent = sizes.enumerated().map { randomPayload($0.element, seed: 1000 + UInt64($0.offset)) }
        for (i, payload) in sent.enumerated() {
            // Lone frames go out directly, until the socket is full; the rest come in bursts
            // through the loop.
            let alone = i < count / 2 || i % 10 < 7
            a.putWithoutCompletion(to: b.processID, portal: Self.testPortal, matchBits: 9, payload: payload, alone: alone)
            if alone { usleep(100) }
        }
        try await Task.sleep(for: .milliseconds(200))
        holding.store(false, ordering: .relaxed)
        for delivery in held.withLock({ $0 }) { delivery.release() }
        try await settle(done.futureResult, seconds: 30, "\(count) PUTs")
        let got = received.withLock { $0 }
        XCTAssertEqual(got.count, sent.count)
        // Order holds per connection: small payloads travel on the control one, large on bulk.
        for bulk in [false, true] {
            let onConnection = { (payload: ByteBuffer) in (payload.readableBytes > (16 << 10)) == bulk }
            let expected = sent.filter(onConnection)
            XCTAssertFalse(expected.isEmpty)
            for (i, (payload, sentPayload)) in zip(got.filter(onConnection), expected).enumerated() where payload != sentPayload {
                XCTFail("\(bulk ? "bulk" : "control") frame \(i) of \(sentPayload.readableBytes) bytes reordered or corrupted")
                break
            }
        }
        let (whole, split) = a.directSends
        XCTAssertGreaterThan(whole, 0, "no frame went out from the sender's thread")
        XCTAssertGreaterThan(split, 0, "no direct write met a full socket")
    }

    func testPingOfAddressNobodyListensOnFailsFastWithECONNREFUSED() async throws {
        let (a, _, _) = try await startPair()
        let start = monotonicSeconds()
        do {
            let ids = try await a.ping(Self.nobody, timeout: 20)
            XCTFail("ping of nobody answered \(ids)")
        } catch {
            XCTAssertEqual(error.errno, ECONNREFUSED, "\(error)")
        }
        XCTAssertLessThan(monotonicSeconds() - start, 2, "a refused connect must not wait for the ping timeout")
    }

    func testGarbageConnectionIsClosedAndOtherPeersStillServed() async throws {
        let (a, b, port) = try await startPair()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.3", port: port).get()
        var rng = SplitMix64(seed: 0x9a7b)
        var garbage = channel.allocator.buffer(capacity: 4096)
        garbage.writeBytes(rng.bytes(4096))
        try await channel.writeAndFlush(garbage).get()
        try await settle(channel.closeFuture, seconds: 5, "B to close the garbage connection")
        let ids = try await a.ping(b.nid)
        XCTAssertEqual(ids.last, b.processID)
    }

    func testHelloForAnotherNIDIsRefused() async throws {
        let (a, b, port) = try await startPair()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.3", port: port).get()
        var hello = channel.allocator.buffer(capacity: LNetHello.size)
        LNetHello(connectionType: .control, source: a.processID, destinationNID: Self.nobody,
                  destinationPID: ProcessID.lustrePID, sourceIncarnation: 1, destinationIncarnation: 0).encode(into: &hello)
        try await channel.writeAndFlush(hello).get()
        try await settle(channel.closeFuture, seconds: 5, "B to close a connection meant for another NID")
        let ids = try await a.ping(b.nid)
        XCTAssertEqual(ids.last, b.processID)
    }

    /// Restarts B on the same NID and port; A must notice and talk to the new B.
    private func restartB(_ b: LNetInstance, port: Int) async throws -> LNetInstance {
        await b.shutdown()
        let newB = try await LNetInstance.start(nid: Self.nidB, configuration: testConfiguration(port: port))
        addTeardownBlock { await newB.shutdown() }
        XCTAssertNotEqual(newB.incarnation, b.incarnation)
        return newB
    }

    func testPeerRestartIsObservedAndPingWorksAfterwards() async throws {
        let (a, b, port) = try await startPair()
        let events = Mutex([String]())
        let sawDown = a.eventLoopGroup.any().makePromise(of: Void.self)
        a.addObserver { event in
            switch event {
            case .connected(let peer): events.withLock { $0.append("connected \(peer)") }
            case .restarted(let peer): events.withLock { $0.append("restarted \(peer)") }
            case .down(let peer, _):
                events.withLock { $0.append("down \(peer)") }
                sawDown.succeed(())
            }
        }
        _ = try await a.ping(b.nid)
        _ = try await restartB(b, port: port)
        try await settle(sawDown.futureResult, seconds: 5, "A to see B go down")
        // The next operations reach the new B (a retry is allowed: see the strict test below).
        var ids: [ProcessID] = []
        let deadline = monotonicSeconds() + 5
        while ids.isEmpty, monotonicSeconds() < deadline {
            do {
                ids = try await a.ping(Self.nidB)
            } catch {
                try await Task.sleep(nanoseconds: 50_000_000)
            }
        }
        XCTAssertEqual(ids.map(\.description), ["12345-0@lo", "12345-127.0.0.3@tcp"])
        let seen = events.withLock { $0 }
        let downIndex = seen.firstIndex(of: "down 12345-127.0.0.3@tcp")
        XCTAssertNotNil(downIndex, "events: \(seen)")
        XCTAssertTrue(seen.contains("restarted 12345-127.0.0.3@tcp"), "new incarnation not reported: \(seen)")
    }

    /// The operation that brings up the connection to a restarted peer was sent
    /// to the new incarnation: it must not be failed as belonging to the old one.
    func testFirstPingAfterPeerRestartSucceeds() async throws {
        let (a, b, port) = try await startPair()
        let sawDown = a.eventLoopGroup.any().makePromise(of: Void.self)
        a.addObserver { event in
            if case .down = event { sawDown.succeed(()) }
        }
        _ = try await a.ping(b.nid)
        _ = try await restartB(b, port: port)
        try await settle(sawDown.futureResult, seconds: 5, "A to see B go down")
        let ids = try await a.ping(Self.nidB)
        XCTAssertEqual(ids.last?.description, "12345-127.0.0.3@tcp")
    }

    func testShutdownFailsOperationsInFlight() async throws {
        let (a, _, port) = try await startPair()
        // A "peer" that accepts the connection and never says hello: A's GET stays in flight.
        let blackHole = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: Self.nobody.ipv4String, port: port).get()
        addTeardownBlock { try? await blackHole.close() }
        let get = a.get(from: ProcessID(nid: Self.nobody), portal: Self.testPortal, matchBits: 1, length: 10)
        // Observe the outcome from a loop that outlives A's.
        let outcome = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: ByteBuffer.self)
        get.cascade(to: outcome)
        try await Task.sleep(nanoseconds: 100_000_000)
        let start = monotonicSeconds()
        await a.shutdown()
        do {
            _ = try await settle(outcome.futureResult, seconds: 5, "GET to fail")
            XCTFail("GET to a silent peer succeeded")
        } catch {
            XCTAssertEqual(lustreError(error)?.errno, ESHUTDOWN, "\(error)")
        }
        XCTAssertLessThan(monotonicSeconds() - start, 3, "shutdown must fail the GET, not leave it to time out")
    }

    func testStartFailsWhenPortIsTaken() async throws {
        let (_, _, port) = try await startPair()
        do {
            let dup = try await LNetInstance.start(nid: Self.nidB, configuration: testConfiguration(port: port))
            await dup.shutdown()
            XCTFail("a second acceptor bound the same address")
        } catch {
            XCTAssertEqual(error.errno, EADDRINUSE, "\(error)")
        }
    }

    func testStartRefusesLoopbackNID() async {
        do {
            let lnet = try await LNetInstance.start(nid: .loopback, configuration: testConfiguration(port: randomTestPort()))
            await lnet.shutdown()
            XCTFail("LNet started on 0@lo")
        } catch {
            XCTAssertEqual(error.errno, EINVAL)
        }
    }
}
