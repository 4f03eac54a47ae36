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

/// Records the job id of every request and pulls the bulk of writes.
final class JobRecordingHandler: PtlRPCHandler {
    let jobIDs = Mutex<[String]>([])

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        jobIDs.withLock { $0.append(request.message.jobID) }
        if request.message.opcode == TestOpcode.bulkWrite {
            do throws(LustreError) {
                _ = try await request.bulkGet(length: 8192)
            } catch {
                return .error(error)
            }
        }
        return PtlRPCReply(buffers: request.message.buffers)
    }
}

/// The job id on requests, the client RPC counters (`osc.*.stats`) and the `import` file, with
/// a real service over loopback TCP.
final class PtlRPCImportStatsTests: XCTestCase {
    private struct Setup {
        let handler: JobRecordingHandler
        let importer: PtlRPCImport
        let stats: PtlRPCClientStats
    }

    private func makeSetup() async throws -> Setup {
        var lastError: Error?
        for _ in 0..<8 {
            let port = Int.random(in: 20000...40000)
            let handler = JobRecordingHandler()
            let server: LNetInstance
            do {
                server = try await LNetInstance.start(nid: PtlRPCServiceTests.serverNID,
                                                      configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
            } catch {
                lastError = error
                continue
            }
            let service = PtlRPCService(name: "ost_test", lnet: server, portals: PtlRPCServiceTests.portals,
                                        connectOpcode: Opcode.ostConnect, disconnectOpcode: Opcode.ostDisconnect,
                                        threads: 2, handler: handler)
            service.start()
            let client = try await LNetInstance.start(nid: PtlRPCServiceTests.clientNID,
                                                      configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
            var configuration = PtlRPCImport.Configuration(portals: PtlRPCServiceTests.portals,
                                                           connectOpcode: Opcode.ostConnect,
                                                           disconnectOpcode: Opcode.ostDisconnect)
            configuration.minTimeout = 1
            configuration.recoveryTimeout = 10
            let stats = PtlRPCClientStats(opcodes: [(TestOpcode.echo, "test_echo"), (TestOpcode.bulkWrite, "test_write")],
                                          bulkWrite: TestOpcode.bulkWrite)
            configuration.stats = stats
            let importer = PtlRPCImport(lnet: client, target: ProcessID(nid: PtlRPCServiceTests.serverNID),
                                        targetName: "testfs-OST0000_UUID", configuration: configuration)
            addTeardownBlock {
                await importer.disconnect()
                await service.stop()
                await server.shutdown()
                await client.shutdown()
            }
            return Setup(handler: handler, importer: importer, stats: stats)
        }
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }

    func testRequestsCarryTheJobOfTheCallingTaskOrAnExplicitOne() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        _ = try await setup.importer.call(opcode: TestOpcode.echo, buffers: [])
        try await PtlRPCJobID.$current.withValue("job42") {
            _ = try await setup.importer.call(opcode: TestOpcode.echo, buffers: [])
            _ = try await setup.importer.call(opcode: TestOpcode.echo, buffers: [], jobID: "explicit.7")
        }
        let long = String(repeating: "j", count: 40)
        _ = try await setup.importer.call(opcode: TestOpcode.echo, buffers: [], jobID: long)
        // The connect carries none; then no job, the task's, the explicit one, one cut to 31 bytes.
        XCTAssertEqual(setup.handler.jobIDs.withLock { Array($0.suffix(4)) },
                       ["", "job42", "explicit.7", String(repeating: "j", count: 31)])
    }

    func testStatsCountWaitActiveBulkBytesAndOpcodes() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        for _ in 0..<3 { _ = try await setup.importer.call(opcode: TestOpcode.echo, buffers: []) }
        var length = ByteBuffer()
        length.writeInteger(UInt32(8192), endianness: .little)
        _ = try await setup.importer.call(opcode: TestOpcode.bulkWrite, buffers: [length],
                                          bulk: .write([ByteBuffer(repeating: 7, count: 8192)]))
        let text = setup.stats.stats.format()
        let lines = text.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines[0].hasPrefix("snapshot_time "), text)
        func line(_ name: String) -> [String]? {
            lines.first { $0.hasPrefix(name + " ") }?.split(separator: " ").map(String.init)
        }
        // The connect is an RPC too: 1 + 3 + 1 replies waited for.
        XCTAssertEqual(line("req_waittime")?[1], "5", text)
        XCTAssertEqual(line("req_waittime")?[3], "[usecs]", text)
        XCTAssertEqual(line("req_active")?[1], "5", text)
        XCTAssertEqual(line("write_bytes"), ["write_bytes", "1", "samples", "[bytes]", "8192", "8192", "8192", "67108864"],
                       text)
        XCTAssertEqual(line("test_echo")?[1], "3", text)
        XCTAssertEqual(line("test_write")?[1], "1", text)
        XCTAssertNil(line("read_bytes"), "empty counters are not printed")
        // Lustre's order: ptlrpc counters, then the bulk bytes, then the opcodes.
        XCTAssertEqual(lines.dropFirst(3).map { String($0.prefix { $0 != " " }) },
                       ["req_waittime", "req_active", "write_bytes", "test_echo", "test_write"])
    }

    func testImportFileShowsTheLiveConnection() async throws {
        let setup = try await makeSetup()
        try await setup.importer.connect()
        var length = ByteBuffer()
        length.writeInteger(UInt32(8192), endianness: .little)
        _ = try await setup.importer.call(opcode: TestOpcode.bulkWrite, buffers: [length],
                                          bulk: .write([ByteBuffer(repeating: 7, count: 8192)]))
        let text = setup.importer.statusText(deviceName: "testfs-OST0000-osc-1234")
        let nid = "\(PtlRPCServiceTests.serverNID)"
        let expectedStart = """
            import:
                name: testfs-OST0000-osc-1234
                target: testfs-OST0000_UUID
                state: FULL
                import_flags: [ replayable, connect_tried ]
                connection:
                   failover_nids: [ "\(nid)" ]
                   current_connection: "\(nid)"
                   connection_attempts: 1
                   in-progress_invalidations: 0
                   idle: 
            """
        XCTAssertTrue(text.hasPrefix(expectedStart), text)
        XCTAssertTrue(text.contains("""
                rpcs:
                   inflight: 0
                   unregistering: 0
                   timeouts: 0
                   avg_waittime: 
            """), text)
        XCTAssertTrue(text.contains("\n    service_estimates:\n       services: 1 sec\n"), text)
        XCTAssertTrue(text.contains("\n    transactions:\n       last_replay: 0\n"), text)
        XCTAssertTrue(text.contains("\n    write_data_averages:\n       bytes_per_rpc: 8192\n       usecs_per_rpc: "), text)
        XCTAssertFalse(text.contains("read_data_averages"), "no read RPC yet: no read averages")
    }

    func testImportFileFormatsAveragesAsLustre() {
        let stats = PtlRPCClientStats(opcodes: [(4, "ost_write")], bulkWrite: 4)
        stats.sent(inflight: 1)
        stats.bulk(isWrite: true, bytes: 1_048_576)
        stats.replied(opcode: 4, microseconds: 2000)
        let snapshot = PtlRPCImport.Snapshot(status: .disconnected, connectionAttempts: 3, inflight: 2, timeouts: 1,
                                             estimate: 4.2, lastReplayTransno: 17, peerCommitted: 20,
                                             lastReplyTime: 1000)
        let text = PtlRPCImport.statusText(snapshot, deviceName: "fs-OST0001-osc-x", target: "fs-OST0001_UUID",
                                           nid: "10.0.0.2@tcp", stats: stats, now: 1012)
        XCTAssertEqual(text, """
            import:
                name: fs-OST0001-osc-x
                target: fs-OST0001_UUID
                state: DISCONN
                import_flags: [ replayable, connect_tried ]
                connection:
                   failover_nids: [ "10.0.0.2@tcp" ]
                   current_connection: "10.0.0.2@tcp"
                   connection_attempts: 3
                   in-progress_invalidations: 0
                   idle: 12 sec
                rpcs:
                   inflight: 2
                   unregistering: 0
                   timeouts: 1
                   avg_waittime: 2000 usecs
                service_estimates:
                   services: 5 sec
                transactions:
                   last_replay: 17
                   peer_committed: 20
                   last_checked: 20
                write_data_averages:
                   bytes_per_rpc: 1048576
                   usecs_per_rpc: 2000
                   MB_per_sec: 524.28

            """)
    }
}
