import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Learns which acknowledged operations are committed: with every storm thread paused, probes
/// the MDS (each reply carries its last_committed) until the import's replay list is empty —
/// every request the MDS gave a transno is then committed — with no MDS restart seen around
/// the probe; the operations answered by that MDS instance are then journaled as committed.
final class StormBarrier: Sendable {
    private let session: MDSSession
    private let gate: StormGate
    private let workers: [StormWorker]
    private let journal: StormJournal
    private let probe: LustreFID
    private let journaled = Atomic<Int>(0)

    init(session: MDSSession, gate: StormGate, workers: [StormWorker], journal: StormJournal, probe: LustreFID) {
        self.session = session
        self.gate = gate
        self.workers = workers
        self.journal = journal
        self.probe = probe
    }

    /// Operations journaled as committed so far.
    var journaledOperations: Int { journaled.load(ordering: .relaxed) }

    /// True once the MDS had committed everything acknowledged (and that is journaled).
    func commit(timeout: Double) async -> Bool {
        await gate.pause()
        defer { gate.resume() }
        let deadline = MonotonicClock.nanoseconds() + UInt64(timeout * 1e9)
        while MonotonicClock.nanoseconds() < deadline {
            let epoch = session.restarts
            do {
                _ = try await session.mdc.getattr(probe, credentials: .root)
            } catch {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            if session.mdc.rpcImport.replayCount == 0 && session.restarts == epoch {
                var lines: [String] = []
                for worker in workers { lines += await worker.commit(epoch: epoch) }
                let operations = lines.count
                lines.append("COMMIT epoch=\(epoch) ops=\(operations)")
                do {
                    try await journal.append(lines)
                } catch {
                    CERROR("storm: journal: \(error)")
                    return false
                }
                journaled.add(operations, ordering: .relaxed)
                return true
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
