import ArgumentParser
import LNet
import LibCFS
import NIOCore
import PtlRPC

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lnet-selftest`: LNet's self-test, reduced to a responder and a load generator.
@main
struct LNetSelftest: AsyncParsableCommand {

    static let configuration = CommandConfiguration(
        commandName: "lnet-selftest",
        abstract: "Measure LNet and PtlRPC: a responder (serve) and a load generator (run).",
        version: LustreVersion.string,
        subcommands: [Serve.self, Run.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Answer self-test RPCs on NID until SIGTERM or SIGINT.")

    @Argument(help: "The NID to serve on, e.g. 127.0.0.2@tcp.") var nid: String
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "Handler tasks.") var threads: Int = 8

    func run() async throws {
        LustreDebug.applyEnvironment()
        let nid = try NID(parsing: nid)
        var configuration = LNetConfiguration()
        configuration.acceptPort = acceptPort
        let lnet = try await LNetInstance.start(nid: nid, configuration: configuration)
        let service = PtlRPCService(name: "lst", lnet: lnet, portals: Selftest.portals,
                                    connectOpcode: Opcode.selftestConnect, disconnectOpcode: Opcode.selftestDisconnect,
                                    threads: threads, handler: SelftestHandler(maxSize: Selftest.maxSize))
        service.start()
        print("lnet-selftest: serving on \(nid) port \(acceptPort), pid \(getpid())")
        fflush(stdout)
        await TerminationSignal.wait()
        await service.stop()
        await lnet.shutdown()
    }
}

enum TestKind: String, ExpressibleByArgument, CaseIterable {
    case ping
    case bulkWrite = "bulk_write"
    case bulkRead = "bulk_read"
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a responder and report throughput.")

    @Argument(help: "The responder's NID.") var nid: String
    @Option(help: "ping, bulk_write or bulk_read.") var test: TestKind = .ping
    @Option(help: "Bulk size (e.g. 4K, 1M).") var size: String = "1M"
    @Option(help: "RPCs in flight.") var concurrency: Int = 8
    @Option(help: "Seconds to run.") var duration: Double = 10
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "This side's NID (default: 127.0.0.1@tcp for a loopback target, else the node's first NID).")
    var source: String?
    @Flag(help: "Print only the summary, not a line per second.") var quiet = false
    @Option(help: "Checksum bulk data (crc32, adler, crc32c) as PtlRPC does for file I/O; off by default, as lst's brw test.")
    var check: String?

    func run() async throws {
        LustreDebug.applyEnvironment()
        let target = try NID(parsing: nid)
        let bytes = try NumberText.size(size)
        guard bytes > 0, bytes <= Selftest.maxSize else {
            throw ValidationError("--size must be between 1 and \(Selftest.maxSize) bytes")
        }
        guard concurrency > 0, concurrency <= 1024 else { throw ValidationError("--concurrency must be 1...1024") }
        let local = try source.map { try NID(parsing: $0) } ?? defaultSource(for: target)
        var configuration = LNetConfiguration()
        configuration.acceptPort = acceptPort
        configuration.listen = false
        let lnet = try await LNetInstance.start(nid: local, configuration: configuration)
        var importConfiguration = Selftest.importConfiguration
        importConfiguration.recoveryTimeout = max(60, duration * 2)
        importConfiguration.checksumType = try check.map { try ChecksumType.parse($0) }
        let peer = ProcessID(nid: target)
        let rpcImport = PtlRPCImport(lnet: lnet, target: peer, targetName: Selftest.targetName,
                                     configuration: importConfiguration)
        do {
            try await rpcImport.connect()
        } catch {
            printError("lnet-selftest: cannot reach \(target): \(error)")
            await lnet.shutdown()
            throw ExitCode(1)
        }
        let payload: ByteBuffer = {
            var payload = ByteBufferAllocator().buffer(capacity: bytes)
            payload.writeRepeatingByte(0x5a, count: bytes)
            return payload
        }()
        let sizeBody: ByteBuffer = {
            var body = ByteBuffer()
            body.writeInteger(UInt32(bytes), endianness: .little)
            return body
        }()
        let counters = SelftestCounters()
        let start = MonotonicClock.nanoseconds()
        let end = start + UInt64(duration * 1e9)
        let test = test
        let quiet = quiet
        let reporter = Task {
            var last = (ops: 0, bytes: 0)
            var second = 0
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: 1_000_000_000)
                second += 1
                let now = counters.snapshot()
                if !quiet {
                    let ops = now.ops - last.ops
                    let megabytes = Double(now.bytes - last.bytes) / 1e6
                    print("[\(second)s] \(ops) RPC/s" + (test == .ping ? "" : " \(NumberText.fixed(megabytes, 1)) MB/s")
                          + " errors \(now.errors)")
                    fflush(stdout)
                }
                last = (now.ops, now.bytes)
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while MonotonicClock.nanoseconds() < end {
                        do {
                            let response: PtlRPCImport.Response
                            switch test {
                            case .ping:
                                response = try await rpcImport.call(opcode: Opcode.selftestPing, buffers: [])
                            case .bulkWrite:
                                response = try await rpcImport.call(opcode: Opcode.selftestBulkWrite, buffers: [sizeBody],
                                                                    bulk: .write([payload]))
                            case .bulkRead:
                                response = try await rpcImport.call(opcode: Opcode.selftestBulkRead, buffers: [sizeBody],
                                                                    bulk: .read(maxLength: bytes))
                            }
                            if response.reply.status < 0 {
                                counters.failed(LustreError(status: response.reply.status).description)
                            } else {
                                counters.succeeded(bytes: test == .ping ? 0 : bytes)
                            }
                        } catch {
                            counters.failed("\(error)")
                            try? await Task.sleep(nanoseconds: 100_000_000)
                        }
                    }
                }
            }
        }
        reporter.cancel()
        let elapsed = Double(MonotonicClock.nanoseconds() - start) / 1e9
        let total = counters.snapshot()
        let rate = Double(total.ops) / elapsed
        print("lnet-selftest \(test.rawValue) \(target): \(total.ops) RPCs in \(NumberText.fixed(elapsed, 2)) s, "
              + "concurrency \(concurrency)" + (test == .ping ? "" : ", size \(bytes)"))
        print("RPCs/s: \(NumberText.fixed(rate, 0))")
        if test != .ping { print("MB/s: \(NumberText.fixed(Double(total.bytes) / elapsed / 1e6, 1))") }
        print("errors: \(total.errors)" + (total.lastError.map { " (last: \($0))" } ?? ""))
        print("longest gap: \(NumberText.fixed(Double(total.longestGap) / 1e9, 2)) s")
        await rpcImport.disconnect()
        await lnet.shutdown()
        if total.ops == 0 { throw ExitCode(1) }
    }

    private func defaultSource(for target: NID) throws -> NID {
        if target.address >> 24 == 127 { return NID(address: 0x7f00_0001) }
        return try LNetNetworks.localNIDs().first ?? NID(address: 0x7f00_0001)
    }
}


func printError(_ message: String) {
    fputs(message + "\n", stderr)
}
