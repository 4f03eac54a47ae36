import LNet
import LibCFS
import LustreTestSupport
import NIOCore
import Synchronization
import XCTest

@testable import PtlRPC

#if canImport(Glibc)
import Glibc
#endif

enum TestOpcode {
    static let echo: UInt32 = 0x7001
    static let bulkWrite: UInt32 = 0x7002
    static let bulkRead: UInt32 = 0x7003
    static let unknown: UInt32 = 0x7fff
    /// Answers with the next transno (never committed): the import keeps every such request.
    static let modify: UInt32 = 0x7004
}

/// Deterministic bulk contents, so the reader can check what the server sent.
func bulkPattern(length: Int, seed: UInt64) -> ByteBuffer {
    var rng = SplitMix64(seed: seed)
    return ByteBuffer(bytes: rng.bytes(length))
}

func crc32c(_ buffer: ByteBuffer) -> UInt32 { CRC32C.checksum(buffer.readableBytesView) }

/// Echo, bulk write (pull with bulkGet, answer the CRC32C) and bulk read
/// (push a pattern with bulkPut); counts how often each opcode ran.
final class TestHandler: PtlRPCHandler {
    private let calls = Mutex([UInt32: Int]())
    private let transnos = Mutex<UInt64>(0)
    /// The first buffer of each `modify` request replayed (`MSG_REPLAY`), in order.
    let replayed = Mutex<[ByteBuffer]>([])
    private let shortIOCalls = Mutex([UInt32: Int]())
    let lastWrite = Mutex<ByteBuffer?>(nil)

    func count(_ opcode: UInt32) -> Int { calls.withLock { $0[opcode] ?? 0 } }
    /// Requests of `opcode` that asked for short I/O.
    func shortIOCount(_ opcode: UInt32) -> Int { shortIOCalls.withLock { $0[opcode] ?? 0 } }

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        let opcode = request.message.opcode
        calls.withLock { $0[opcode, default: 0] += 1 }
        if request.message.flags.contains(.shortIO) { shortIOCalls.withLock { $0[opcode, default: 0] += 1 } }
        do throws(LustreError) {
            switch opcode {
            case TestOpcode.echo:
                return PtlRPCReply(buffers: request.message.buffers)
            case TestOpcode.modify:
                if request.message.flags.contains(.replay), let first = request.message.buffers.first {
                    replayed.withLock { $0.append(first) }
                }
                return PtlRPCReply(buffers: request.message.buffers, transno: transnos.withLock { $0 += 1; return $0 })
            case TestOpcode.bulkWrite:
                var body = try request.message.buffer(0, "bulk length")
                guard let length = body.readInteger(endianness: .little, as: UInt32.self) else {
                    throw LustreError.protocolError("short bulk length")
                }
                let data = try await request.bulkGet(length: Int(length))
                lastWrite.withLock { $0 = data }
                var sum = ByteBuffer()
                sum.writeInteger(crc32c(data), endianness: .little)
                return PtlRPCReply(buffers: [sum])
            case TestOpcode.bulkRead:
                var body = try request.message.buffer(0, "bulk length and seed")
                guard let length = body.readInteger(endianness: .little, as: UInt32.self),
                      let seed = body.readInteger(endianness: .little, as: UInt64.self) else {
                    throw LustreError.protocolError("short bulk read request")
                }
                var reply = PtlRPCReply()
                try await request.bulkPut(bulkPattern(length: Int(length), seed: seed), into: &reply)
                return reply
            default:
                return PtlRPCReply(status: -EOPNOTSUPP)
            }
        } catch {
            return .error(error)
        }
    }
}

/// One server (LNet on 127.0.0.2@tcp plus a service) and one client (a
/// connect-only LNet on 127.0.0.3@tcp plus an import), over loopback TCP.
final class PtlRPCServiceTests: XCTestCase {
    static let serverNID = NID(address: 0x7f00_0002)
    static let clientNID = NID(address: 0x7f00_0003)
    static let portals = PtlRPCService.Portals(request: Portal.ostRequest, reply: Portal.oscReply, bulk: Portal.ostBulk)

    /// What a test runs against; the server half can be replaced by a restart.
    final class Setup: Sendable {
        let port: Int
        let connectFlags: PtlRPCConnectFlags
        let handler: TestHandler
        let client: LNetInstance
        let importer: PtlRPCImport
        private let server: Mutex<(LNetInstance, PtlRPCService)?>

        init(port: Int, connectFlags: PtlRPCConnectFlags, handler: TestHandler, client: LNetInstance,
             importer: PtlRPCImport, server: LNetInstance, service: PtlRPCService) {
            self.port = port
            self.connectFlags = connectFlags
            self.handler = handler
            self.client = client
            self.importer = importer
            self.server = Mutex((server, service))
        }

        var service: PtlRPCService? { server.withLock { $0?.1 } }


        static func startServer(port: Int, connectFlags: PtlRPCConnectFlags,
                                handler: TestHandler) async throws(LustreError) -> (LNetInstance, PtlRPCService) {
            let lnet = try await LNetInstance.start(nid: serverNID, configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
            let service = PtlRPCService(name: "ost_test", lnet: lnet, portals: portals, connectOpcode: Opcode.ostConnect,
                                        disconnectOpcode: Opcode.ostDisconnect, threads: 4, connectFlags: connectFlags,
                                        handler: handler)
            service.start()
            return (lnet, service)
        }

        /// Stops the service and its LNet, as a server going away.
        func stopServer() async {
            guard let (lnet, service) = server.withLock({ value in defer { value = nil }; return value }) else { return }
            await service.stop()
            await lnet.shutdown()
        }

        /// Starts a new server on the same NID and port.
        func restartServer() async throws(LustreError) {
            await stopServer()
            let started = try await Self.startServer(port: port, connectFlags: connectFlags, handler: handler)
            server.withLock { $0 = started }
        }

        func tearDown() async {
            FailLoc.value = 0
            await importer.disconnect()
            await stopServer()
            await client.shutdown()
        }
    }

    override func tearDown() {
        FailLoc.value = 0
        super.tearDown()
    }

    /// `shortIOBytes`: the import's short I/O limit (none by default); `connectFlags`: what the
    /// server says it can do.
    private func makeSetup(minTimeout: Double = 1, recoveryTimeout: Double = 10, shortIOBytes: Int? = nil,
                           connectFlags: PtlRPCConnectFlags = [.shortIO]) async throws -> Setup {
        var lastError: LustreError?
        for _ in 0..<8 {
            let port = Int.random(in: 20000...40000)
            let handler = TestHandler()
            let server: (LNetInstance, PtlRPCService)
            do {
                server = try await Setup.startServer(port: port, connectFlags: connectFlags, handler: handler)
            } catch {
                lastError = error
                continue
            }
            let client = try await LNetInstance.start(nid: Self.clientNID,
                                                      configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
            var configuration = PtlRPCImport.Configuration(portals: Self.portals, connectOpcode: Opcode.ostConnect,
                                                           disconnectOpcode: Opcode.ostDisconnect)
            configuration.minTimeout = minTimeout
            configuration.maxTimeout = 5
            configuration.recoveryTimeout = recoveryTimeout
            configuration.shortIOBytes = shortIOBytes.map { Tunable($0, range: 0...(64 << 10)) }
            let importer = PtlRPCImport(lnet: client, target: ProcessID(nid: Self.serverNID), targetName: "OST0000",
                                        configuration: configuration)
            let setup = Setup(port: port, connectFlags: connectFlags, handler: handler, client: client,
                              importer: importer, server: server.0, service: server.1)
            addTeardownBlock { await setup.tearDown() }
            return setup
        }
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free test port")
    }

    private func lengthBuffer(_ length: Int, seed: UInt64? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(length), endianness: .little)
        if let seed { buffer.writeInteger(seed, endianness: .little) }
        return buffer
    }

    private func echo(_ setup: Setup, _ text: String = "ping") async throws(LustreError) -> PtlRPCImport.Response {
        try await setup.importer.call(opcode: TestOpcode.echo, buffers: [ByteBuffer(string: text)])
    }

    // MARK: Basics

    func testConnectThenCallEchoesBuffers() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        XCTAssertEqual(setup.importer.status, .full)
        XCTAssertEqual(setup.service?.exportCount, 1)
        var rng = SplitMix64(seed: 5)
        let buffers = [ByteBuffer(string: "hello"), ByteBuffer(bytes: rng.bytes(13)), ByteBuffer()]
        let response = try await setup.importer.call(opcode: TestOpcode.echo, buffers: buffers, jobID: "test.0")
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(response.reply.buffers, buffers)
        XCTAssertNil(response.bulk)
        XCTAssertEqual(setup.handler.count(TestOpcode.echo), 1)
    }

    func testCallConnectsByItself() async throws {
        let setup = try await makeSetup()
        XCTAssertEqual(setup.importer.status, .new)
        let response = try await echo(setup, "first")
        XCTAssertEqual(response.reply.buffers, [ByteBuffer(string: "first")])
        XCTAssertEqual(setup.importer.status, .full)
    }

    func testUnknownOpcodeAnswersEOPNOTSUPP() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        let response = try await setup.importer.call(opcode: TestOpcode.unknown, buffers: [])
        XCTAssertEqual(response.reply.status, -EOPNOTSUPP)
    }

    func testConcurrentCallsAllGetTheirOwnReplies() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        let importer = setup.importer
        try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<64 {
                group.addTask {
                    let response = try await importer.call(opcode: TestOpcode.echo, buffers: [ByteBuffer(string: "call \(i)")])
                    return (i, String(buffer: response.reply.buffers.first ?? ByteBuffer()))
                }
            }
            for try await (i, text) in group { XCTAssertEqual(text, "call \(i)") }
        }
        XCTAssertEqual(setup.handler.count(TestOpcode.echo), 64)
    }

    /// A request kept for replay and amended after its reply (the MDC gives a create the
    /// layout its reply named) is replayed as amended, another as sent; amending an xid that is
    /// not kept changes nothing.
    func testAnAmendedRequestIsReplayedAsAmended() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 15)
        try await setup.importer.connect()
        let first = try await setup.importer.call(opcode: TestOpcode.modify, buffers: [ByteBuffer(string: "as sent")])
        let second = try await setup.importer.call(opcode: TestOpcode.modify, buffers: [ByteBuffer(string: "left alone")])
        XCTAssertEqual(setup.importer.replayCount, 2, "nothing committed: both kept")
        setup.importer.amendReplay(xid: first.reply.xid, buffers: [ByteBuffer(string: "amended")])
        setup.importer.amendReplay(xid: 12345, buffers: [ByteBuffer(string: "no such request")])
        XCTAssertNotEqual(second.reply.xid, first.reply.xid)
        try await setup.restartServer()
        _ = try await echo(setup, "after")
        XCTAssertEqual(setup.handler.replayed.withLock { $0 }, [ByteBuffer(string: "amended"), ByteBuffer(string: "left alone")])
    }

    func testDisconnectClosesImportAndExport() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        await setup.importer.disconnect()
        XCTAssertEqual(setup.importer.status, .closed)
        XCTAssertEqual(setup.service?.exportCount, 0)
        do {
            _ = try await echo(setup)
            XCTFail("call on a closed import succeeded")
        } catch {
            XCTAssertEqual(error.errno, ESHUTDOWN, "\(error)")
        }
    }

    // MARK: Bulk

    func testBulkWriteArrivesIntact() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        let data = bulkPattern(length: 1 << 20, seed: 42)
        let response = try await setup.importer.call(opcode: TestOpcode.bulkWrite, buffers: [lengthBuffer(data.readableBytes)],
                                                      bulk: .write([data]))
        XCTAssertEqual(response.reply.status, 0)
        var sum = try response.reply.buffer(0, "crc")
        XCTAssertEqual(sum.readInteger(endianness: .little, as: UInt32.self), crc32c(data))
        XCTAssertTrue(setup.handler.lastWrite.withLock { $0 } == data, "server got different bytes")
        XCTAssertEqual(setup.handler.count(TestOpcode.bulkWrite), 1)
    }

    func testBulkReadArrivesIntact() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        let length = 1 << 20
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(length, seed: 7)],
                                                      bulk: .read(maxLength: length))
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(response.reply.bulkChecksumType, ChecksumType.crc32c.rawValue)
        let expected = bulkPattern(length: length, seed: 7)
        XCTAssertEqual(response.bulk?.readableBytes, length)
        XCTAssertTrue(response.bulk == expected, "client got different bytes")
        XCTAssertEqual(response.reply.bulkChecksum, crc32c(expected))
    }

    // MARK: Fault injection (fail_loc is process-global: these tests must not overlap)

    func testWriteChecksumCorruptedAtReceiverOnceIsResent() async throws {
        let setup = try await makeSetup(recoveryTimeout: 8)
        try await setup.importer.connect()
        let data = bulkPattern(length: 256 << 10, seed: 1)
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumReceive
        var outcome: Result<PtlRPCImport.Response, LustreError>
        do {
            outcome = .success(try await setup.importer.call(opcode: TestOpcode.bulkWrite,
                                                             buffers: [lengthBuffer(data.readableBytes)], bulk: .write([data])))
        } catch {
            outcome = .failure(error)
        }
        XCTAssertEqual(setup.handler.count(TestOpcode.bulkWrite), 2, "one failed attempt, one good")
        let response = try outcome.get()
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertTrue(setup.handler.lastWrite.withLock { $0 } == data)
    }

    func testWriteChecksumCorruptedAtSenderOnceIsResent() async throws {
        let setup = try await makeSetup(recoveryTimeout: 8)
        try await setup.importer.connect()
        let data = bulkPattern(length: 256 << 10, seed: 2)
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumSend
        var outcome: Result<PtlRPCImport.Response, LustreError>
        do {
            outcome = .success(try await setup.importer.call(opcode: TestOpcode.bulkWrite,
                                                             buffers: [lengthBuffer(data.readableBytes)], bulk: .write([data])))
        } catch {
            outcome = .failure(error)
        }
        XCTAssertEqual(setup.handler.count(TestOpcode.bulkWrite), 2, "one failed attempt, one good")
        let response = try outcome.get()
        XCTAssertEqual(response.reply.status, 0)
    }

    func testReadChecksumCorruptedAtSenderOnceIsResent() async throws {
        let setup = try await makeSetup(recoveryTimeout: 8)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumSend
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(4096, seed: 3)],
                                                      bulk: .read(maxLength: 4096))
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(response.reply.bulkChecksumType, ChecksumType.crc32c.rawValue, "the read was not checksummed")
        XCTAssertTrue(response.bulk == bulkPattern(length: 4096, seed: 3))
    }

    func testReadChecksumCorruptedAtReceiverOnceIsResent() async throws {
        let setup = try await makeSetup(recoveryTimeout: 8)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumReceive
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(4096, seed: 4)],
                                                      bulk: .read(maxLength: 4096))
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(response.reply.bulkChecksumType, ChecksumType.crc32c.rawValue, "the read was not checksummed")
        XCTAssertTrue(response.bulk == bulkPattern(length: 4096, seed: 4))
    }

    // MARK: Short I/O

    func testShortReadComesBackInTheReply() async throws {
        let setup = try await makeSetup(shortIOBytes: 16 << 10)
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(4096, seed: 11)],
                                                      bulk: .read(maxLength: 4096))
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(setup.handler.shortIOCount(TestOpcode.bulkRead), 1, "the read did not ask for short I/O")
        XCTAssertTrue(response.bulk == bulkPattern(length: 4096, seed: 11), "client got different bytes")
        XCTAssertEqual(response.reply.buffers.count, 0, "the data was left among the reply's buffers")
        XCTAssertEqual(response.reply.bulkChecksumType, ChecksumType.crc32c.rawValue, "the short read was not checksummed")
        XCTAssertEqual(response.reply.bulkChecksum, crc32c(bulkPattern(length: 4096, seed: 11)))
    }

    func testShortWriteTravelsInTheRequest() async throws {
        let setup = try await makeSetup(shortIOBytes: 16 << 10)
        let data = bulkPattern(length: 8192, seed: 12)
        let response = try await setup.importer.call(opcode: TestOpcode.bulkWrite, buffers: [lengthBuffer(data.readableBytes)],
                                                      bulk: .write([data]))
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(setup.handler.shortIOCount(TestOpcode.bulkWrite), 1, "the write did not go as short I/O")
        XCTAssertTrue(setup.handler.lastWrite.withLock { $0 } == data, "server got different bytes")
    }

    func testReadAboveShortIOBytesGoesAsBulk() async throws {
        let setup = try await makeSetup(shortIOBytes: 16 << 10)
        let length = (16 << 10) + 4096
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(length, seed: 13)],
                                                      bulk: .read(maxLength: length))
        XCTAssertEqual(setup.handler.shortIOCount(TestOpcode.bulkRead), 0)
        XCTAssertTrue(response.bulk == bulkPattern(length: length, seed: 13))
    }

    func testNoShortIOWithAServerThatCannot() async throws {
        let setup = try await makeSetup(shortIOBytes: 16 << 10, connectFlags: [])
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(4096, seed: 14)],
                                                      bulk: .read(maxLength: 4096))
        let data = bulkPattern(length: 4096, seed: 15)
        _ = try await setup.importer.call(opcode: TestOpcode.bulkWrite, buffers: [lengthBuffer(data.readableBytes)],
                                          bulk: .write([data]))
        XCTAssertEqual(setup.handler.shortIOCount(TestOpcode.bulkRead) + setup.handler.shortIOCount(TestOpcode.bulkWrite), 0)
        XCTAssertTrue(response.bulk == bulkPattern(length: 4096, seed: 14))
        XCTAssertTrue(setup.handler.lastWrite.withLock { $0 } == data)
    }

    func testShortReadChecksumCorruptedAtSenderOnceIsResent() async throws {
        let setup = try await makeSetup(recoveryTimeout: 8, shortIOBytes: 16 << 10)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.checksumSend
        let response = try await setup.importer.call(opcode: TestOpcode.bulkRead, buffers: [lengthBuffer(4096, seed: 16)],
                                                      bulk: .read(maxLength: 4096))
        XCTAssertEqual(setup.handler.count(TestOpcode.bulkRead), 2, "one corrupted answer, one good")
        XCTAssertEqual(setup.handler.shortIOCount(TestOpcode.bulkRead), 2)
        XCTAssertTrue(response.bulk == bulkPattern(length: 4096, seed: 16))
    }

    func testDroppedReplyIsReconstructedWithoutRunningTheHandlerAgain() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 10)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.dropReply
        let start = Self.seconds()
        let response = try await echo(setup, "once only")
        XCTAssertEqual(response.reply.buffers, [ByteBuffer(string: "once only")])
        XCTAssertEqual(setup.handler.count(TestOpcode.echo), 1, "the resend must be answered from the saved reply")
        XCTAssertGreaterThan(Self.seconds() - start, 0.5, "the first reply was dropped: a timeout must have passed")
    }

    /// Requests share one timeout timer, armed for the earliest deadline: a lost reply
    /// must still time out at its own deadline while later requests keep coming.
    func testLostReplyTimesOutOnTimeWhileOtherCallsKeepGoing() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 10)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.dropReply
        let importer = setup.importer
        let start = Self.seconds()
        let latencies = try await withThrowingTaskGroup(of: (Double, Bool).self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var longest = 0.0
                    var echoed = true
                    while Self.seconds() - start < 2.5 {
                        let began = Self.seconds()
                        let text = ByteBuffer(string: "worker \(worker)")
                        let response = try await importer.call(opcode: TestOpcode.echo, buffers: [text])
                        echoed = echoed && response.reply.buffers == [text]
                        longest = max(longest, Self.seconds() - began)
                    }
                    return (longest, echoed)
                }
            }
            return try await group.reduce(into: [(Double, Bool)]()) { $0.append($1) }
        }
        XCTAssertTrue(latencies.allSatisfy(\.1), "a call got someone else's reply")
        let longest = latencies.map(\.0).max() ?? 0
        XCTAssertGreaterThan(longest, 0.9, "one reply was dropped: its call must have waited out a 1 s timeout")
        XCTAssertLessThan(longest, 2.5, "the timeout fired late (\(longest) s for a 1 s timeout)")
    }

    func testDroppedRequestIsResent() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 10)
        try await setup.importer.connect()
        FailLoc.value = FailLoc.once | PtlRPCFail.dropRequest
        let response = try await echo(setup, "again")
        XCTAssertEqual(response.reply.buffers, [ByteBuffer(string: "again")])
        XCTAssertEqual(setup.handler.count(TestOpcode.echo), 1)
    }

    // MARK: Server failure

    func testCallToStoppedServerFailsWithinRecoveryTimeout() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 2)
        try await setup.importer.connect()
        await setup.stopServer()
        let start = Self.seconds()
        do {
            _ = try await echo(setup)
            XCTFail("call to a stopped server succeeded")
        } catch {
            XCTAssertNotEqual(error.errno, 0, "\(error)")
        }
        let elapsed = Self.seconds() - start
        XCTAssertLessThan(elapsed, 3.5, "gave up after \(elapsed) s with a 2 s recovery timeout")
    }

    func testServerRestartIsRecoveredByReconnecting() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 15)
        try await setup.importer.connect()
        _ = try await echo(setup, "before")
        try await setup.restartServer()
        let response = try await echo(setup, "after")
        XCTAssertEqual(response.reply.status, 0)
        XCTAssertEqual(response.reply.buffers, [ByteBuffer(string: "after")])
        XCTAssertEqual(setup.importer.status, .full)
        XCTAssertEqual(setup.service?.exportCount, 1, "the import must have connected to the new service")
    }

    /// Callers arriving while the import backs off between connect attempts join the one
    /// reconnect loop. They once each started a loop of their own (a failed attempt cleared the
    /// loop's flag), and a mount whose server was away for long ran hundreds of them at once.
    func testCallsDuringBackOffShareOneReconnectLoop() async throws {
        let setup = try await makeSetup(minTimeout: 1, recoveryTimeout: 10)
        try await setup.importer.connect()
        await setup.stopServer()
        let before = setup.importer.snapshot.connectionAttempts
        let start = Self.seconds()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while Self.seconds() - start < 3 {
                        _ = try? await setup.importer.call(opcode: TestOpcode.echo, buffers: [ByteBuffer(string: "x")],
                                                           recoveryTimeout: 0.2)
                    }
                }
            }
        }
        try await Task.sleep(nanoseconds: 2_500_000_000)
        // One loop backs off 0.1, 0.2, 0.4, 0.8, 1.6, 2 s: about 7 attempts in 5.5 s.
        let attempts = setup.importer.snapshot.connectionAttempts - before
        XCTAssertLessThanOrEqual(attempts, 10, "\(attempts) connect attempts in 5.5 s: more than one reconnect loop")
        XCTAssertGreaterThan(attempts, 2, "the import stopped trying to reconnect")
    }

    static func seconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
