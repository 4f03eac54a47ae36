import LibCFS
import NIOCore
import ObdClass
import Synchronization

/// One piece of I/O waiting for an RPC: part of a caller's read or write.
struct OSCExtent: Sendable {
    enum Direction: Sendable { case read, write }

    let direction: Direction
    let object: OSTObjectID
    let offset: UInt64
    let length: Int
    /// The bytes to write; nil for a read.
    let data: ByteBuffer?
    /// The job the I/O is for; only extents of one job share an RPC, which carries it.
    let jobID: String
    /// A write cached against the client's grant (`OSCGrant`): its bytes come off the OST's
    /// grant for this client when they arrive.
    let fromGrant: Bool
    /// Who waits for it, and which of its pieces this is.
    let completion: OSCIOCompletion
    let index: Int

    var end: UInt64 { offset + UInt64(length) }

    /// 4 KiB pages touched, as Lustre counts pages per RPC.
    var pages: Int {
        let page = UInt64(OSCDevice.pageSize)
        return Int((end + page - 1) / page - offset / page)
    }

    func overlaps(_ other: OSCExtent) -> Bool { offset < other.end && other.offset < end }
}

/// Collects the outcome of a caller's extents and wakes the caller when the last one is done.
final class OSCIOCompletion: Sendable {
    struct Outcome: Sendable {
        /// Per extent, the bytes read (reads only).
        var buffers: [ByteBuffer?]
        /// The highest transno among the RPCs that carried the extents (writes only).
        var transno: UInt64 = 0
        var error: LustreError?
    }

    private struct State {
        var remaining: Int
        var outcome: Outcome
        var continuation: CheckedContinuation<Outcome, Never>?
    }

    private let state: Mutex<State>

    init(count: Int, continuation: CheckedContinuation<Outcome, Never>?) {
        state = Mutex(State(remaining: count, outcome: Outcome(buffers: Array(repeating: nil, count: count)),
                            continuation: continuation))
    }

    func finish(_ index: Int, _ result: Result<(transno: UInt64, data: ByteBuffer?), LustreError>) {
        let done = state.withLock { state -> (CheckedContinuation<Outcome, Never>, Outcome)? in
            switch result {
            case .success(let value):
                state.outcome.transno = max(state.outcome.transno, value.transno)
                state.outcome.buffers[index] = value.data
            case .failure(let error):
                if state.outcome.error == nil { state.outcome.error = error }
            }
            state.remaining -= 1
            guard state.remaining == 0, let continuation = state.continuation else { return nil }
            state.continuation = nil
            return (continuation, state.outcome)
        }
        if let (continuation, outcome) = done { continuation.resume(returning: outcome) }
    }
}

/// The OSC's pending I/O and the RPCs carrying it (Lustre's `osc_cache` and `osc_check_rpcs`,
/// without a page cache): callers queue extents; whenever fewer than `max_rpcs_in_flight` RPCs
/// are out, the oldest extent leaves in an RPC together with as many later extents of the same
/// object and direction as fit in `max_pages_per_rpc`. So RPCs are as full as the queue allows,
/// and small I/O merges exactly when the wire is busy anyway.
final class OSCIOQueue: Sendable {
    typealias Sender = @Sendable ([OSCExtent]) async -> [Result<(transno: UInt64, data: ByteBuffer?), LustreError>]

    private struct State {
        var pending: [OSCExtent] = []
        var inFlight = 0
        var readsInFlight = 0

        /// Takes an RPC credit and tallies the RPC in `rpc_stats`.
        mutating func admit(isWrite: Bool, pages: Int, offset: UInt64, stats: OSCRPCStats) {
            inFlight += 1
            if !isWrite { readsInFlight += 1 }
            stats.tally(isWrite: isWrite, pages: pages, offset: offset,
                        inFlight: isWrite ? inFlight - readsInFlight : readsInFlight)
        }

        /// Gives an RPC's credit back.
        mutating func release(isWrite: Bool) {
            inFlight -= 1
            if !isWrite { readsInFlight -= 1 }
        }
    }

    private let state = Mutex(State())
    private let maxRPCsInFlight: Tunable<Int>
    private let maxBytesPerRPC: @Sendable () -> Int
    private let sender: Sender
    /// `rpc_stats`: tallied as each RPC is formed.
    let rpcStats = OSCRPCStats()

    init(maxRPCsInFlight: Tunable<Int>, maxBytesPerRPC: @escaping @Sendable () -> Int, sender: @escaping Sender) {
        self.maxRPCsInFlight = maxRPCsInFlight
        self.maxBytesPerRPC = maxBytesPerRPC
        self.sender = sender
    }

    /// RPCs out now.
    var rpcsInFlight: Int { state.withLock { $0.inFlight } }

    /// The `rpc_stats` file: the histograms with the RPCs out and pages queued now.
    func rpcStatsText() -> String {
        let (reads, writes, readPages, writePages) = state.withLock { state in
            var readPages = 0, writePages = 0
            for extent in state.pending {
                if extent.direction == .read { readPages += extent.pages } else { writePages += extent.pages }
            }
            return (state.readsInFlight, state.inFlight - state.readsInFlight, readPages, writePages)
        }
        return rpcStats.format(readsInFlight: reads, writesInFlight: writes, pendingReadPages: readPages,
                               pendingWritePages: writePages)
    }

    /// Queues `pieces` of one direction for job `jobID` and waits until every one is done.
    func perform(_ direction: OSCExtent.Direction, object: OSTObjectID, jobID: String, fromGrant: Bool = false,
                 pieces: [(offset: UInt64, length: Int, data: ByteBuffer?)]) async -> OSCIOCompletion.Outcome {
        guard !pieces.isEmpty else { return OSCIOCompletion.Outcome(buffers: []) }
        if pieces.count == 1 {
            let lone = OSCExtent(direction: direction, object: object, offset: pieces[0].offset, length: pieces[0].length,
                                 data: pieces[0].data, jobID: jobID, fromGrant: fromGrant,
                                 completion: OSCIOCompletion(count: 1, continuation: nil), index: 0)
            if let outcome = await sendAlone(lone) { return outcome }
        }
        return await withCheckedContinuation { continuation in
            let completion = OSCIOCompletion(count: pieces.count, continuation: continuation)
            let extents = pieces.enumerated().map { index, piece in
                OSCExtent(direction: direction, object: object, offset: piece.offset, length: piece.length,
                          data: piece.data, jobID: jobID, fromGrant: fromGrant, completion: completion, index: index)
            }
            state.withLock { $0.pending.append(contentsOf: extents) }
            pump()
        }
    }

    /// A lone extent, when a credit is free and nothing waits before it, leaves at once from the
    /// caller's own task: it would leave alone anyway, and this way no task is made for it and the
    /// caller resumes straight from the reply, one thread hand-off less each way. Nil: queue it.
    private func sendAlone(_ extent: OSCExtent) async -> OSCIOCompletion.Outcome? {
        let limit = maxRPCsInFlight.value
        let isWrite = extent.direction == .write
        let admitted = state.withLock { state -> Bool in
            guard state.pending.isEmpty, state.inFlight < limit else { return false }
            state.admit(isWrite: isWrite, pages: extent.pages, offset: extent.offset, stats: rpcStats)
            return true
        }
        guard admitted else { return nil }
        let result = await sender([extent]).first ?? .failure(.protocolError("no outcome for a sent extent"))
        state.withLock { $0.release(isWrite: isWrite) }
        pump()
        switch result {
        case .success(let value): return OSCIOCompletion.Outcome(buffers: [value.data], transno: value.transno)
        case .failure(let error): return OSCIOCompletion.Outcome(buffers: [nil], error: error)
        }
    }

    /// Sends RPCs while credits allow.
    private func pump() {
        let limit = maxRPCsInFlight.value
        let cap = maxBytesPerRPC()
        let batches = state.withLock { state -> [[OSCExtent]] in
            var batches: [[OSCExtent]] = []
            while state.inFlight < limit, !state.pending.isEmpty {
                let first = state.pending.removeFirst()
                var batch = [first]
                var total = first.length
                var index = 0
                while index < state.pending.count, batch.count < OSTBRWLimits.maxPieces, total < cap {
                    let candidate = state.pending[index]
                    // Overlapping writes stay in separate RPCs, so they land in the order they were queued.
                    if candidate.direction == first.direction, candidate.object == first.object,
                       candidate.jobID == first.jobID, total + candidate.length <= cap,
                       candidate.direction == .read || !batch.contains(where: { $0.overlaps(candidate) }) {
                        batch.append(state.pending.remove(at: index))
                        total += candidate.length
                    } else {
                        index += 1
                    }
                }
                state.admit(isWrite: first.direction == .write, pages: batch.reduce(0) { $0 + $1.pages },
                            offset: batch.map(\.offset).min() ?? first.offset, stats: rpcStats)
                batches.append(batch)
            }
            return batches
        }
        for batch in batches {
            Task { await self.run(batch) }
        }
    }

    private func run(_ batch: [OSCExtent]) async {
        let results = await sender(batch)
        for (extent, result) in zip(batch, results) { extent.completion.finish(extent.index, result) }
        state.withLock { $0.release(isWrite: batch.first?.direction != .read) }
        pump()
    }
}
