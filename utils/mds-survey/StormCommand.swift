import ArgumentParser
import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `mds-survey storm`: random namespace operations from several threads while the MDS may be
/// killed and restarted, journaling (fsync'd) every operation the MDS is known to have committed
/// and checking after each restart that every committed change survived.
struct StormCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storm",
        abstract: "Random create/mkdir/rename/unlink/rmdir/link/symlink through MDS restarts.",
        discussion: """
            Each thread works in DIR/tN with a model of its subtree. Every --commit-every seconds \
            the threads pause and the storm probes the MDS until its import holds no uncommitted \
            request (the MDS has committed everything it acknowledged) with no MDS restart seen \
            meanwhile: those operations are then journaled as committed. After a restart each \
            thread reads its subtree back: a path whose last change was committed but differs is \
            reported LOST. At the end (count, --duration, or SIGTERM/SIGINT) everything is \
            committed, checked once more, and the final tree is journaled as FINAL lines for \
            `mds-survey verify`. Exit status 1 if anything was lost or an error had no \
            explanation (a namespace error with no MDS restart during the operation).
            """)

    @OptionGroup var connection: MDSConnectionOptions
    @Option(help: "Threads, each in a directory of its own.") var threads: Int = 4
    @Option(help: "The storm's directory under the filesystem root (must not exist).") var dir: String = "storm"
    @Option(help: "Operations per thread (0: until --duration or SIGTERM).") var count: Int = 0
    @Option(help: "Seconds to run (0: until --count or SIGTERM).") var duration: Double = 0
    @Option(help: "The journal file (fsync'd).") var journal: String
    @Option(help: "Seconds between commit barriers.") var commitEvery: Double = 2
    @Option(help: "Entries per thread the tree grows to.") var treeSize: Int = 40
    @Option(help: "Random seed (default: from the clock).") var seed: UInt64?
    @Option(help: "Also write every operation, its outcome and each read-back to this file (debugging).")
    var trace: String?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
        guard count >= 0, duration >= 0 else { throw ValidationError("--count and --duration must not be negative") }
        guard commitEvery > 0 else { throw ValidationError("--commit-every must be positive") }
        guard (1...10_000).contains(treeSize) else { throw ValidationError("--tree-size must be 1...10000") }
        guard !dir.isEmpty, !dir.contains("/"), dir != ".", dir != ".." else {
            throw ValidationError("--dir must be one name, without '/'")
        }
        guard connection.mds != nil else { throw ValidationError("give --mds NID") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        let seed = self.seed ?? MonotonicClock.nanoseconds()
        let session: MDSSession
        let journal: StormJournal
        let traceFile: StormJournal?
        do {
            journal = try StormJournal(path: self.journal)
            traceFile = try trace.map { path throws(LustreError) in try StormJournal(path: path, durable: false) }
            session = try await MDSSession.connect(connection)
        } catch {
            fputs("mds-survey storm: \(error)\n", stderr)
            throw ExitCode(1)
        }
        let ok: Bool
        do {
            ok = try await storm(session, journal, trace: traceFile, seed: seed)
        } catch {
            fputs("mds-survey storm: \(error)\n", stderr)
            await session.close()
            throw ExitCode(1)
        }
        await session.close()
        if !ok { throw ExitCode(1) }
    }

    private func storm(_ session: MDSSession, _ journal: StormJournal, trace: StormJournal?, seed: UInt64) async throws(LustreError) -> Bool {
        let mdc = session.mdc
        let top = try await mdc.create(parent: session.root, name: dir, kind: .directory, mode: 0o755,
                                       credentials: .root, layout: nil, exclusive: true).0.fid
        var workers: [StormWorker] = []
        for thread in 0..<threads {
            let fid = try await mdc.create(parent: top, name: "t\(thread)", kind: .directory, mode: 0o755,
                                           credentials: .root, layout: nil, exclusive: true).0.fid
            workers.append(StormWorker(index: thread, directory: fid, session: session,
                                       seed: seed &+ UInt64(thread) &* 0x1_0000_0001, targetSize: treeSize,
                                       trace: trace))
        }
        try await journal.append(["START fsname=\(connection.fsname) dir=\(dir) threads=\(threads) seed=\(seed)"])
        print("storm: \(threads) threads in /\(dir) on \(connection.fsname)-MDT0000 at \(session.server), seed \(seed), "
              + "journal \(journal.path)")
        fflush(stdout)

        let stop = StormStopFlag()
        let gate = StormGate()
        let barrier = StormBarrier(session: session, gate: gate, workers: workers, journal: journal, probe: top)
        let signals = Task {
            await TerminationSignal.wait()
            stop.set()
        }
        let timer: Task<Void, Never>? = duration > 0 ? Task { [duration] in
            try? await Task.sleep(for: .seconds(duration))
            stop.set()
        } : nil
        let limit = count > 0 ? count : nil
        let committer = Task { [commitEvery] in
            while !stop.isSet {
                try? await Task.sleep(for: .seconds(commitEvery))
                if stop.isSet { break }
                if await !barrier.commit(timeout: 20) {
                    CWARN("storm: the MDS did not commit within 20 s; the storm goes on")
                }
            }
        }
        let started = MonotonicClock.nanoseconds()
        await withTaskGroup(of: Void.self) { group in
            for worker in workers {
                group.addTask { await worker.run(gate: gate, stop: stop, limit: limit) }
            }
        }
        stop.set()
        let elapsed = Double(MonotonicClock.nanoseconds() - started) / 1e9
        await committer.value
        timer?.cancel()
        signals.cancel()

        // Everything acknowledged becomes committed, then every tree is checked against its
        // model in full (all of it committed now) and committed again.
        var settled = false
        for _ in 0..<10 {
            for worker in workers {
                if await worker.mustResync { await worker.resync(stop: nil) }
            }
            guard await barrier.commit(timeout: 60) else { continue }
            for worker in workers { await worker.resync(stop: nil) }
            guard await barrier.commit(timeout: 60) else { continue }
            var clean = true
            for worker in workers {
                if await worker.mustResync { clean = false }
                if await worker.uncommitted > 0 { clean = false }
            }
            if clean {
                settled = true
                break
            }
        }
        var total = StormWorker.Tally()
        var finalLines: [String] = []
        var entries = 0
        for worker in workers {
            let tally = await worker.tally
            total.operations += tally.operations
            total.errorsDuringRestarts += tally.errorsDuringRestarts
            total.resyncs += tally.resyncs
            total.verifiedAfterRestart += tally.verifiedAfterRestart
            total.notReplayed += tally.notReplayed
            total.lost += tally.lost
            total.unexplained += tally.unexplained
            finalLines += await worker.finalLines()
            entries += await worker.entryCount
        }
        if !settled {
            total.unexplained.append("the storm could not get everything committed at the end")
        }
        let committed = barrier.journaledOperations
        var lines = total.lost.map { "LOST \($0)" } + total.unexplained.map { "UNEXPLAINED \($0)" }
        if settled { lines += finalLines }
        lines.append("END operations=\(total.operations) restarts=\(session.restarts) committed=\(committed) "
                     + "entries=\(entries) lost=\(total.lost.count) unexplained=\(total.unexplained.count) "
                     + "final=\(settled ? "yes" : "no")")
        try await journal.append(lines)

        print("storm: \(total.operations) operations in \(NumberText.fixed(elapsed, 1)) s "
              + "(\(NumberText.fixed(Double(total.operations) / max(elapsed, 0.001), 1)) ops/s), "
              + "\(session.restarts) MDS restart(s), \(committed) journaled committed, "
              + "\(total.errorsDuringRestarts) errors across restarts, \(total.resyncs) resyncs")
        print("storm: \(total.verifiedAfterRestart) committed entries verified after restarts, "
              + "\(total.lost.count) lost, \(total.unexplained.count) unexplained errors; "
              + "final tree \(entries) entries" + (settled ? " (journaled)" : " (NOT settled)"))
        print("storm: \(total.notReplayed) acknowledged but uncommitted entries were not as acknowledged after a restart "
              + "(not promised; replay should restore them)")
        for text in total.lost.prefix(20) { print("storm: LOST \(text)") }
        for text in total.unexplained.prefix(20) { print("storm: UNEXPLAINED \(text)") }
        fflush(stdout)
        return settled && total.lost.isEmpty && total.unexplained.isEmpty
    }
}
