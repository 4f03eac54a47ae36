import ArgumentParser
import LNet
import LibCFS
import NIOCore
import OSC
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `ost-survey`: drives an OST through the OSC, LNet and the OFD, as Lustre's obdfilter-survey
/// does in network mode: precreate objects, write, rewrite and read them, and report MB/s.
@main
struct OSTSurvey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ost-survey",
        abstract: "Measure (and check) an OST through the OSC: write, rewrite, read, or a write stream.",
        version: LustreVersion.string)

    enum Mode: String, ExpressibleByArgument, CaseIterable {
        case write, rewrite, read, all
    }

    @Option(help: "The OSS's NID, e.g. 127.0.0.2@tcp.") var ost: String
    @Option(help: "The target, e.g. testfs-OST0000.") var target: String
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "This side's NID (default 127.0.0.1@tcp for a loopback OSS).") var source: String?
    @Option(help: "Objects to spread the I/O over.") var objects: Int = 4
    @Option(help: "Total bytes per pass, over all objects (e.g. 256M, 1G).") var size: String = "256M"
    @Option(help: "Bytes per I/O call.") var io: String = "1M"
    @Option(help: "I/O calls in flight.") var concurrency: Int = 8
    @Flag(help: "Write a checkable pattern and check it when reading; exit 1 on a mismatch.") var verify = false
    @Option(help: "write, rewrite, read or all.") var mode: Mode = .all
    @Option(help: "Write a stream for this many seconds, then check every write seen committed.")
    var stream: Double?
    @Option(help: "max_rpcs_in_flight of the OSC.") var rpcsInFlight: Int = 8
    @Option(help: "max_pages_per_rpc of the OSC (4 KiB pages, 1...1024).") var pagesPerRpc: Int = 1024
    @Option(help: "Bulk checksum: crc32c, crc32, adler or none.") var checksum: String = "crc32c"
    @Flag(help: "Keep the objects instead of destroying them at the end.") var keep = false
    @Flag(help: "End each write pass with OST_SYNC, inside its time: durable throughput (as fio --end_fsync).")
    var sync = false

    func validate() throws {
        guard objects > 0, objects <= 10_000 else { throw ValidationError("--objects must be 1...10000") }
        guard concurrency > 0, concurrency <= 1024 else { throw ValidationError("--concurrency must be 1...1024") }
        let ioBytes = try NumberText.size(io)
        guard ioBytes > 0, ioBytes <= 64 << 20 else { throw ValidationError("--io must be 1 byte...64M") }
        if let stream, stream <= 0 { throw ValidationError("--stream must be positive") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        let server = try NID(parsing: ost)
        let targetName = try TargetName(parsing: target)
        let ioBytes = try NumberText.size(io)
        let perObject = max(ioBytes, try NumberText.size(size) / objects / ioBytes * ioBytes)
        var lnetConfiguration = LNetConfiguration()
        lnetConfiguration.acceptPort = acceptPort
        lnetConfiguration.listen = false
        let local = try source.map { try NID(parsing: $0) }
            ?? (server.address >> 24 == 127 ? NID(address: 0x7f00_0001) : (try LNetNetworks.localNIDs().first ?? server))
        let lnet = try await LNetInstance.start(nid: local, configuration: lnetConfiguration)
        var oscConfiguration = OSCDevice.Configuration()
        oscConfiguration.maxRPCsInFlight = rpcsInFlight
        oscConfiguration.maxPagesPerRPC = pagesPerRpc
        oscConfiguration.checksumType = checksum == "none" ? nil : try ChecksumType.parse(checksum)
        let osc = try OSCDevice(lnet: lnet, server: server, target: targetName, configuration: oscConfiguration)
        do {
            try await osc.connect()
        } catch {
            fputs("ost-survey: cannot connect to \(targetName) at \(server): \(error)\n", stderr)
            await lnet.shutdown()
            throw ExitCode(1)
        }
        var failed = false
        do {
            let range = try await osc.precreate(count: objects)
            let ids = range.map { OSTObjectID(objectID: $0) }
            print("ost-survey: \(targetName) at \(server): \(objects) objects \(range.lowerBound)...\(range.upperBound), "
                  + "\(perObject >> 20) MiB each, io \(ioBytes), concurrency \(concurrency), "
                  + "rpcs_in_flight \(rpcsInFlight), pages_per_rpc \(pagesPerRpc), checksum \(checksum)"
                  + (sync ? ", synced writes" : ""))
            if let stream {
                failed = try await runStream(osc, ids, seconds: stream, ioBytes: ioBytes,
                                             slots: ids.count * (perObject / ioBytes))
            } else {
                failed = try await runPasses(osc, ids, perObject: perObject, ioBytes: ioBytes)
            }
            if !keep {
                for id in ids { try await osc.destroy(id) }
            }
        } catch {
            fputs("ost-survey: \(error)\n", stderr)
            failed = true
        }
        await osc.disconnect()
        await lnet.shutdown()
        if failed { throw ExitCode(1) }
    }

    // MARK: Passes

    private func runPasses(_ osc: OSCDevice, _ ids: [OSTObjectID], perObject: Int, ioBytes: Int) async throws -> Bool {
        let wanted: [Mode] = mode == .all ? [.write, .rewrite, .read] : [mode]
        var failed = false
        var generation: UInt64 = 0
        // Rewrite and read need data in place: an untimed write first when the write pass is not asked for.
        if !wanted.contains(.write) {
            generation += 1
            _ = await pass(.write, osc, ids, perObject: perObject, ioBytes: ioBytes, generation: generation)
        }
        for phase in wanted {
            if phase != .read { generation += 1 }
            let result = await pass(phase, osc, ids, perObject: perObject, ioBytes: ioBytes, generation: generation)
            let rate = Double(result.bytes) / result.seconds / 1e6
            print("\(phase.rawValue): \(result.bytes >> 20) MiB in \(NumberText.fixed(result.seconds, 3)) s: \(NumberText.fixed(rate, 1)) MB/s"
                  + (result.errors > 0 ? ", \(result.errors) errors (last: \(result.lastError ?? ""))" : "")
                  + (verify && phase == .read ? ", \(result.mismatches) mismatches" : ""))
            print("ost-survey \(phase.rawValue) \(NumberText.fixed(rate, 1)) MB/s")
            if result.errors > 0 || result.mismatches > 0 { failed = true }
        }
        if verify && !failed && wanted.contains(.read) { print("verify: OK") }
        fflush(stdout)
        return failed
    }

    private func pass(_ phase: Mode, _ osc: OSCDevice, _ ids: [OSTObjectID], perObject: Int, ioBytes: Int,
                      generation: UInt64) async -> SurveyCounters.Totals {
        let jobs = ids.count * (perObject / ioBytes)
        let counters = SurveyCounters()
        let fixedData = SurveyPattern.make(object: OSTObjectID(objectID: 0), offset: 0, length: ioBytes, generation: 0)
        let verify = verify
        let started = MonotonicClock.nanoseconds()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while let job = counters.nextJob(below: jobs) {
                        let object = ids[job % ids.count]
                        let offset = UInt64(job / ids.count * ioBytes)
                        do {
                            if phase == .read {
                                let data = try await osc.read(object: object, offset: offset, length: ioBytes)
                                let good = !verify || SurveyPattern.matches(data, object: object, offset: offset,
                                                                             length: ioBytes, generation: generation)
                                counters.done(bytes: data.readableBytes, mismatch: !good)
                            } else {
                                let data = verify
                                    ? SurveyPattern.make(object: object, offset: offset, length: ioBytes, generation: generation)
                                    : fixedData
                                try await osc.write(object: object, offset: offset, data: data)
                                counters.done(bytes: ioBytes, mismatch: false)
                            }
                        } catch {
                            counters.failed("\(error)")
                        }
                    }
                }
            }
        }
        if sync && phase != .read {
            do {
                try await osc.sync()
            } catch {
                counters.failed("sync: \(error)")
            }
        }
        var totals = counters.totals
        totals.seconds = Double(MonotonicClock.nanoseconds() - started) / 1e9
        return totals
    }

    // MARK: Stream

    /// Writes until `seconds` have passed (through OSS restarts), then checks that every write
    /// seen committed reads back intact. True if anything failed. The stream cycles over `slots`
    /// places (`--size` in all); a place always gets the same bytes, so a later pass over it
    /// leaves what an earlier committed write put there.
    private func runStream(_ osc: OSCDevice, _ ids: [OSTObjectID], seconds: Double, ioBytes: Int,
                           slots: Int) async throws -> Bool {
        let log = StreamLog()
        let counters = SurveyCounters()
        let end = MonotonicClock.nanoseconds() + UInt64(seconds * 1e9)
        let watcher = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                Self.noteCommits(osc, log)
            }
        }
        let started = MonotonicClock.nanoseconds()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while MonotonicClock.nanoseconds() < end, let sequence = counters.nextJob(below: .max) {
                        let job = sequence % slots
                        let object = ids[job % ids.count]
                        let offset = UInt64(job / ids.count * ioBytes)
                        let data = SurveyPattern.make(object: object, offset: offset, length: ioBytes, generation: 1)
                        do {
                            let transno = try await osc.write(object: object, offset: offset, data: data)
                            log.acknowledged(job: job, transno: transno, epoch: osc.serverRestarts)
                            counters.done(bytes: ioBytes, mismatch: false)
                        } catch {
                            log.failed("\(error)")
                            counters.failed("\(error)")
                        }
                    }
                }
            }
        }
        let elapsed = Double(MonotonicClock.nanoseconds() - started) / 1e9
        watcher.cancel()
        // Whatever the last instance acknowledged becomes committed here.
        _ = try await osc.sync()
        Self.noteCommits(osc, log)
        let writes = log.writes
        let committed = writes.filter { $0.committedInEpoch != nil }
        let restarts = osc.serverRestarts
        let errors = log.errors
        print("stream: \(writes.count) writes acknowledged in \(NumberText.fixed(elapsed, 1)) s "
              + "(\(NumberText.fixed(Double(writes.count * ioBytes) / elapsed / 1e6, 1)) MB/s), \(restarts) OSS restart(s), "
              + "\(errors.count) errors" + (errors.last.map { " (last: \($0))" } ?? ""))
        print("stream: \(committed.count) seen committed, "
              + "\(committed.filter { $0.committedInEpoch! < restarts }.count) of them before a restart; "
              + "\(writes.count - committed.count) acknowledged but never seen committed")
        for epoch in 0...restarts {
            let acknowledged = writes.filter { $0.epoch == epoch }
            print("stream: OSS instance \(epoch): \(acknowledged.count) writes acknowledged, "
                  + "\(acknowledged.filter { $0.committedInEpoch != nil }.count) seen committed, "
                  + "transnos up to \(acknowledged.map(\.transno).max() ?? 0)")
        }
        print("stream: last_committed \(osc.lastCommitted)")
        // Uncommitted writes were replayed after a restart, so every acknowledged write must
        // read back, not only those seen committed. Check each where it was written.
        let checks = SurveyCounters()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<concurrency {
                group.addTask {
                    while let index = checks.nextJob(below: writes.count) {
                        let job = writes[index].job
                        let object = ids[job % ids.count]
                        let offset = UInt64(job / ids.count * ioBytes)
                        do {
                            let data = try await osc.read(object: object, offset: offset, length: ioBytes)
                            let good = SurveyPattern.matches(data, object: object, offset: offset, length: ioBytes,
                                                             generation: 1)
                            if !good { fputs("stream: MISMATCH in \(object) at \(offset) (transno \(writes[index].transno))\n", stderr) }
                            checks.done(bytes: data.readableBytes, mismatch: !good)
                        } catch {
                            checks.failed("\(error)")
                        }
                    }
                }
            }
        }
        let verified = checks.totals
        let ok = verified.mismatches == 0 && verified.errors == 0 && errors.count == 0
        print("stream: verified \(writes.count) acknowledged writes (\(committed.count) seen committed): "
              + (ok ? "OK" : "\(verified.mismatches) mismatches, \(verified.errors) read errors"))
        fflush(stdout)
        return !ok
    }

    private static func noteCommits(_ osc: OSCDevice, _ log: StreamLog) {
        let before = osc.serverRestarts
        let lastCommitted = osc.lastCommitted
        if osc.serverRestarts == before { log.committed(upTo: lastCommitted, epoch: before) }
    }
}

/// Shared job counter and totals of one pass.
final class SurveyCounters: Sendable {
    struct Totals: Sendable {
        var next = 0
        var bytes = 0
        var errors = 0
        var mismatches = 0
        var lastError: String?
        var seconds = 0.0
    }

    private let state = Mutex(Totals())

    func nextJob(below limit: Int) -> Int? {
        state.withLock { totals in
            guard totals.next < limit else { return nil }
            defer { totals.next += 1 }
            return totals.next
        }
    }

    func done(bytes: Int, mismatch: Bool) {
        state.withLock {
            $0.bytes += bytes
            if mismatch { $0.mismatches += 1 }
        }
    }

    func failed(_ error: String) {
        state.withLock {
            $0.errors += 1
            $0.lastError = error
        }
    }

    var totals: Totals { state.withLock { $0 } }
}
