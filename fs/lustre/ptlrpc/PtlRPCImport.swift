import Atomics
import LNet
import LibCFS
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client's side of a connection to one target (`obd_import`): connect
/// handshake, request/reply with xids, timeouts and resend with the same xid,
/// reconnect after the server or the network comes back, and bulk transfers
/// whose checksums the receiver verifies.
public final class PtlRPCImport: Sendable {
    public struct Configuration: Sendable {
        public var portals: PtlRPCService.Portals
        public var connectOpcode: UInt32
        public var disconnectOpcode: UInt32
        /// Bulk checksum algorithm, nil to send bulk unchecked (`osc.*.checksums=0`).
        public var checksumType: ChecksumType? = .crc32c
        /// Bounds of the adaptive request timeout, in seconds (`at_min`, `obd_timeout`).
        public var minTimeout: Double = 5
        public var maxTimeout: Double = 100
        /// How long a call keeps retrying through reconnects before it fails with ETIMEDOUT.
        public var recoveryTimeout: Double = 300
        /// Resends after a checksum mismatch before giving up with EIO.
        public var maxChecksumResends = 10
        /// The device's RPC counters (`osc.*.stats`, `mdc.*.stats`), nil to keep none.
        public var stats: PtlRPCClientStats?
        /// Bulk of at most this many bytes travels inside the request (a write) or the reply (a
        /// read) when the server can do it (`osc.*.short_io_bytes`; nil or 0: never). A small
        /// read is then one message each way, a small write one round trip instead of two.
        public var shortIOBytes: Tunable<Int>?
        /// Told of every change of `unstableBytes` (the difference), under the import's lock: a
        /// client's OSCs add theirs up to bound the write data it pins (`OSCClientCache`).
        public var unstableObserver: (@Sendable (Int) -> Void)?

        public init(portals: PtlRPCService.Portals, connectOpcode: UInt32, disconnectOpcode: UInt32) {
            self.portals = portals
            self.connectOpcode = connectOpcode
            self.disconnectOpcode = disconnectOpcode
        }
    }

    /// Import states, as `lctl get_param *.import` names them.
    public enum Status: String, Sendable {
        case new = "NEW"
        case connecting = "CONNECTING"
        case full = "FULL"
        /// Disconnected for want of use (`idleDisconnect`); the next request connects again.
        case idle = "IDLE"
        case disconnected = "DISCONN"
        case closed = "CLOSED"
    }

    /// Bulk data travelling with a request.
    public enum Bulk: Sendable {
        /// The server pulls these bytes (a write): the concatenation of the buffers, each sent
        /// from its own memory (the writer's pages are not first copied into one buffer).
        case write([ByteBuffer])
        /// The server pushes at most this many bytes (a read).
        case read(maxLength: Int)

        var isWrite: Bool { if case .write = self { true } else { false } }

        /// The bytes a write sends, or the most a read takes.
        var length: Int {
            switch self {
            case .write(let parts): parts.reduce(0) { $0 + $1.readableBytes }
            case .read(let maxLength): maxLength
            }
        }
    }

    /// A reply and, for a bulk read, the bytes the server pushed.
    public struct Response: Sendable {
        public var reply: PtlRPCMessage
        public var bulk: ByteBuffer?
    }

    public let target: ProcessID
    public let targetName: String
    public let clientUUID: String
    public let configuration: Configuration
    let lnet: LNetInstance

    /// Runs a task on the loop that reads this import's replies: a task preferring it resumes
    /// after each reply without a thread hand-off (`LNetTaskExecutor`).
    public var taskExecutor: LNetTaskExecutor { lnet.taskExecutor(for: target) }

    private struct State {
        var status: Status = .new
        var handle: UInt64 = 0
        var connectionCount: UInt32 = 0
        var serverInstance: UInt64 = 0
        var reconnecting = false
        var waiters: [UInt64: CheckedContinuation<Void, Error>] = [:]
        /// Attempts in flight, failed at once when the connection is lost.
        var attempts: [UInt64: Attempt] = [:]
        /// When the timeout sweep is due, nil when none is scheduled.
        var sweepAt: NIODeadline?
        var inflightXids: Set<UInt64> = []
        var highestXid: UInt64 = 0
        var lastCommitted: UInt64 = 0
        /// Requests the server executed but has not yet committed, by xid: they are
        /// sent again (`MSG_REPLAY`) if the server restarts before committing them.
        var replayList: [UInt64: Replay] = [:]
        /// Bulk write bytes pinned by `replayList` (Lustre's unstable pages of this import).
        var unstableBytes = 0
        /// Adaptive timeout estimate of round trip plus service time, in seconds.
        var estimate: Double = 0
        /// Requests that timed out (`imp_timeouts`).
        var timeouts: UInt32 = 0
        /// The transno of the last request replayed (`imp_last_replay_transno`).
        var lastReplayTransno: UInt64 = 0
        /// Wall-clock seconds of the last reply (`imp_last_reply_time`), 0 before any.
        var lastReplyTime: Int64 = 0
    }

    /// One send waiting for its reply, failed when its deadline passes.
    private struct Attempt {
        var reply: PtlRPCWaiter<PtlRPCMessage>
        var deadline: NIODeadline
        var seconds: UInt32
    }

    /// A request kept for replay, with its bulk data pinned as Lustre pins pages until commit.
    private struct Replay: Sendable {
        var message: PtlRPCMessage
        var bulk: Bulk?
        var transno: UInt64

        /// The write data this request pins.
        var bulkBytes: Int {
            guard let bulk, bulk.isWrite else { return 0 }
            return bulk.length
        }
    }

    private let state = Mutex(State())
    private let xids: ManagedAtomic<UInt64>
    private let nextWaiter = ManagedAtomic<UInt64>(1)
    private let observer = Mutex<UInt64?>(nil)
    /// `PtlRPCConnectFlags` of the server's last connect reply.
    private let serverFlags = ManagedAtomic<UInt64>(0)
    /// When a request last left (monotonic ns): the pinger pings only after a quiet interval.
    private let lastSent = ManagedAtomic<UInt64>(0)
    /// When a request other than a ping was last made (monotonic ns): the import is idle after
    /// `idleDisconnect`'s timeout without one.
    private let lastActive = ManagedAtomic<UInt64>(0)
    /// Pings the server while the import is open (`startPinger`).
    private let pinger = Mutex<Task<Void, Never>?>(nil)
    /// The callbacks the import's user sets. In a struct: a closure that is itself a `Mutex`'s
    /// value is rewrapped in a reabstraction thunk at every `withLock` that hands it out and
    /// writes it back, until calling it overflows the stack.
    private struct Callbacks {
        /// Told after a restarted server's replay (`onRecovery`).
        var recovery: RecoveryHandler?
        /// Whether a lost connection is to be made again at once (`reconnectWhenLost`).
        var reconnectWanted: (@Sendable () -> Bool)?
        /// What each connect asks and what to do with the answer (`onConnect`).
        var connectRequest: (@Sendable () -> ByteBuffer)?
        var connectAnswer: (@Sendable (_ answer: ByteBuffer?, _ sentAt: UInt64) -> Void)?
        /// Seconds without use after which the import disconnects, 0 never, and whether its
        /// user lets it now (`idleDisconnect`).
        var idleTimeout: (@Sendable () -> Double)?
        var mayIdle: (@Sendable () -> Bool)?
    }
    private let callbacks = Mutex(Callbacks())

    public init(lnet: LNetInstance, target: ProcessID, targetName: String, clientUUID: String = PtlRPCImport.makeUUID(),
                configuration: Configuration) {
        self.lnet = lnet
        self.target = target
        self.targetName = targetName
        self.clientUUID = clientUUID
        self.configuration = configuration
        // As ptlrpc_init_xid: start from the clock so a restarted client never reuses an xid.
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        self.xids = ManagedAtomic(UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec / 1000))
        let token = lnet.addObserver { [weak self] event in self?.peerEvent(event) }
        observer.withLock { $0 = token }
    }

    deinit {
        if let token = observer.withLock({ $0 }) { lnet.removeObserver(token) }
        // What this import pinned is freed with it.
        let pinned = state.withLock { $0.unstableBytes }
        if pinned != 0 { configuration.unstableObserver?(-pinned) }
    }

    public static func makeUUID() -> String {
        let a = UInt64.random(in: .min ... .max), b = UInt64.random(in: .min ... .max)
        func hex(_ value: UInt64, _ digits: Int) -> String {
            let text = String(value, radix: 16)
            return String(repeating: "0", count: max(0, digits - text.count)) + text.suffix(digits)
        }
        return "\(hex(a >> 32, 8))-\(hex(a >> 16 & 0xffff, 4))-\(hex(a & 0xffff, 4))-\(hex(b >> 48, 4))-\(hex(b & 0xffff_ffff_ffff, 12))"
    }

    public var status: Status { state.withLock { $0.status } }
    /// Highest transno the server reported durable.
    public var lastCommitted: UInt64 { state.withLock { $0.lastCommitted } }

    /// `OBD_PING`: returns once the target answers, or throws when it does not within `timeout`
    /// seconds (reconnects included) or answers with an error (`lfs check`).
    public func ping(timeout: Double) async throws(LustreError) {
        let response = try await call(opcode: Opcode.obdPing, buffers: [], recoveryTimeout: timeout)
        if response.reply.status < 0 { throw LustreError(status: response.reply.status, "ping \(targetName)") }
    }

    /// Connects now, failing with the server's answer rather than waiting for recovery;
    /// `timeout` (seconds) bounds the wait for that answer below the import's own timeout.
    public func connect(timeout: Double? = nil) async throws(LustreError) {
        try await reconnectOnce(timeout: timeout)
    }

    /// Says goodbye to the server and stops reconnecting.
    public func disconnect() async {
        let wasFull = state.withLock { $0.status == .full }
        if wasFull {
            _ = try? await call(opcode: configuration.disconnectOpcode, buffers: [], recoveryTimeout: 5)
        }
        let (waiters, attempts) = state.withLock { state in
            state.status = .closed
            defer {
                state.waiters = [:]
                state.attempts = [:]
            }
            return (Array(state.waiters.values), state.attempts.values.map(\.reply))
        }
        let error = LustreError(errno: ESHUTDOWN, "import to \(targetName) closed")
        for waiter in waiters { waiter.resume(throwing: error) }
        for attempt in attempts { attempt.fail(error) }
        pinger.withLock { $0 }?.cancel()
    }

    /// Sends a request and waits for its reply, resending with the same xid
    /// through timeouts and reconnects until `recoveryTimeout` runs out. A
    /// negative status in the reply is returned, not thrown.
    ///
    /// `jobID` nil: the job of the calling task (`PtlRPCJobID.current`).
    public func call(opcode: UInt32, buffers: [ByteBuffer], bulk: Bulk? = nil, jobID: String? = nil,
                     recoveryTimeout: Double? = nil) async throws(LustreError) -> Response {
        var xid = newXid()
        defer { _ = state.withLock { $0.inflightXids.remove(xid) } }
        if opcode != Opcode.obdPing { lastActive.store(MonotonicClock.nanoseconds(), ordering: .relaxed) }
        let deadline = Self.now() + UInt64((recoveryTimeout ?? configuration.recoveryTimeout) * 1e9)
        var message = PtlRPCMessage(opcode: opcode, xid: xid, buffers: buffers)
        message.jobID = PtlRPCJobID.truncated(jobID ?? PtlRPCJobID.current)
        if let bulk { configuration.stats?.bulk(isWrite: bulk.isWrite, bytes: bulk.length) }
        if bulk != nil, let type = configuration.checksumType {
            // For a read this asks the server to checksum what it sends.
            message.bulkChecksumType = BulkChecksum.wireValue(type)
        }
        func checksumWriteData() {
            if case .write(let parts) = bulk, let type = configuration.checksumType {
                message.bulkChecksum = BulkChecksum.compute(type, parts)
                if FailLoc.check(PtlRPCFail.checksumSend) { message.bulkChecksum ^= 1 }
            }
        }
        /// After a checksum mismatch the transfer is redone as a new request
        /// (new xid): the server finished the old one and may answer it from
        /// its saved reply.
        func renew() {
            _ = state.withLock { $0.inflightXids.remove(xid) }
            xid = newXid()
            message.xid = xid
            message.flags.remove(.resent)
            checksumWriteData()
        }
        checksumWriteData()
        var checksumResends = 0
        var lastError = LustreError.timedOut("\(targetName): no reply to xid \(xid)")
        while true {
            do {
                try await waitUntilFull(deadline: deadline)
            } catch {
                throw lastError.errno == ETIMEDOUT ? error : lastError
            }
            let (handle, connectionCount, lastXid) = state.withLock {
                ($0.handle, $0.connectionCount, ($0.inflightXids.min() ?? $0.highestXid + 1) - 1)
            }
            message.handle = handle
            message.connectionCount = connectionCount
            message.lastXid = lastXid
            // No attempt outlives the caller's deadline (a ping's 5 s, a mount's timeout).
            message.timeout = attemptTimeout(within: Double(deadline &- min(Self.now(), deadline)) / 1e9)
            do throws(LustreError) {
                let response = try await attempt(message, bulk: bulk)
                let reply = response.reply
                if reply.status == -ENOTCONN {
                    markDisconnected(because: "\(targetName) does not know our connection (server restarted?)")
                    message.flags.insert(.resent)
                    continue
                }
                if reply.status == -EAGAIN, case .write = bulk, message.bulkChecksumType != 0 {
                    checksumResends += 1
                    guard checksumResends <= configuration.maxChecksumResends else {
                        throw LustreError(errno: EIO, "\(targetName): bulk write checksum kept failing")
                    }
                    CWARN("\(targetName): server saw a bad checksum on xid \(xid): resending")
                    renew()
                    continue
                }
                if case .read = bulk, reply.status >= 0, let data = response.bulk,
                   let type = BulkChecksum.type(of: reply) {
                    var sum = BulkChecksum.compute(type, data)
                    if FailLoc.check(PtlRPCFail.checksumReceive) { sum ^= 1 }
                    if sum != reply.bulkChecksum {
                        checksumResends += 1
                        CERROR("BAD READ CHECKSUM: from \(target) xid \(xid): server 0x\(String(reply.bulkChecksum, radix: 16)) "
                               + "!= client 0x\(String(sum, radix: 16)): resending")
                        guard checksumResends <= configuration.maxChecksumResends else {
                            throw LustreError(errno: EIO, "\(targetName): bulk read checksum kept failing")
                        }
                        renew()
                        continue
                    }
                }
                keepForReplay(message, bulk: bulk, reply: reply)
                return response
            } catch {
                lastError = error
                if Self.now() >= deadline { throw error }
                switch error.errno {
                case ETIMEDOUT:
                    state.withLock { $0.timeouts &+= 1 }
                    CWARN("\(targetName): request xid \(xid) opcode \(opcode) timed out after \(message.timeout) s: reconnecting")
                    markDisconnected(because: "request timed out")
                case ESHUTDOWN, EIO, EINVAL, EMSGSIZE:
                    throw error
                default:
                    markDisconnected(because: "\(error)")
                }
                message.flags.insert(.resent)
            }
        }
    }

    /// Records what the reply says was committed, and keeps this request for
    /// replay when the server gave it a transno not yet committed.
    private func keepForReplay(_ message: PtlRPCMessage, bulk: Bulk?, reply: PtlRPCMessage) {
        state.withLock { state in
            if reply.lastCommitted > state.lastCommitted {
                state.lastCommitted = reply.lastCommitted
                let committed = state.lastCommitted
                state.replayList = state.replayList.filter { $0.value.transno > committed }
                changeUnstable(&state, by: state.replayList.values.reduce(0) { $0 + $1.bulkBytes } - state.unstableBytes)
            }
            if reply.transno > state.lastCommitted {
                var kept = message
                kept.flags.remove(.resent)
                let entry = Replay(message: kept, bulk: bulk, transno: reply.transno)
                changeUnstable(&state, by: entry.bulkBytes - (state.replayList[message.xid]?.bulkBytes ?? 0))
                state.replayList[message.xid] = entry
            }
        }
    }

    private func changeUnstable(_ state: inout State, by delta: Int) {
        guard delta != 0 else { return }
        state.unstableBytes += delta
        configuration.unstableObserver?(delta)
    }

    /// Sends one request to a server in recovery (flagged `MSG_REPLAY`) and returns its reply;
    /// a negative status in the reply is returned, not thrown.
    public typealias RecoverySend = @Sendable (_ opcode: UInt32, _ buffers: [ByteBuffer]) async throws(LustreError)
        -> PtlRPCMessage
    /// Re-establishes server state that no uncommitted request holds, through `send`.
    public typealias RecoveryHandler = @Sendable (_ send: RecoverySend) async -> Void

    /// Sets what runs after a restarted server's replay and before the import turns FULL, so
    /// no new request overtakes it: Lustre's open replay, where the MDC opens again the files
    /// its client holds open (the server's open handles died with it).
    public func onRecovery(_ handler: @escaping RecoveryHandler) {
        callbacks.withLock { $0.recovery = handler }
    }

    /// Replaces the buffers of request `xid` with `buffers` if it is kept for replay: what to
    /// send again should the server lose it, once its reply is known (Lustre's `mdc_replay_open`
    /// puts the layout the MDS gave an open-create into the kept request the same way).
    public func amendReplay(xid: UInt64, buffers: [ByteBuffer]) {
        state.withLock { $0.replayList[xid]?.message.buffers = buffers }
    }

    /// Reconnects as soon as the connection is lost while `wanted()` says so, without waiting
    /// for a call (Lustre's pinger does it for every import): the MDC holding files open, which
    /// it must open again on a restarted MDS within that MDS's grace for files unlinked while open.
    public func reconnectWhenLost(_ wanted: @escaping @Sendable () -> Bool) {
        callbacks.withLock { $0.reconnectWanted = wanted }
    }

    /// Sends `request()` with every connect (its third buffer) and gives the server's answer (the
    /// reply's second buffer, nil when it sent none) and when the connect left (monotonic ns) to
    /// `answer`, before any replay: the OSC asks for grant this way, as Lustre's client with
    /// `ocd_grant`, so that its first writes may be cached.
    public func onConnect(request: @escaping @Sendable () -> ByteBuffer,
                          answer: @escaping @Sendable (_ answer: ByteBuffer?, _ sentAt: UInt64) -> Void) {
        callbacks.withLock {
            $0.connectRequest = request
            $0.connectAnswer = answer
        }
    }

    /// Lets the import disconnect once no request but pings was made for `timeout()` seconds
    /// (0: never), as Lustre's idle imports (`osc.*.idle_timeout`): with nothing in flight and
    /// nothing awaiting commit, and when `mayIdle` agrees (the OSC: nothing cached against its
    /// grant, which it lets go then). The server drops the export and what it held; the import
    /// is IDLE, is not pinged, and its next request connects it again.
    public func idleDisconnect(timeout: @escaping @Sendable () -> Double, mayIdle: @escaping @Sendable () -> Bool) {
        callbacks.withLock {
            $0.idleTimeout = timeout
            $0.mayIdle = mayIdle
        }
    }

    private enum Idleness {
        case busy, disconnected
        /// Unused long enough, but with requests the server has not said it committed.
        case awaitingCommit
    }

    /// Disconnects an import idle for its `idleDisconnect` timeout.
    private func disconnectIfIdle(now: UInt64) async -> Idleness {
        let (timeout, mayIdle) = callbacks.withLock { ($0.idleTimeout, $0.mayIdle) }
        guard let timeout, let mayIdle else { return .busy }
        let seconds = timeout()
        guard seconds > 0, now &- lastActive.load(ordering: .relaxed) >= UInt64(seconds * 1e9) else { return .busy }
        func idleness(_ state: State) -> Idleness? {
            guard state.status == .full, !state.reconnecting, state.inflightXids.isEmpty else { return .busy }
            return state.replayList.isEmpty ? nil : .awaitingCommit
        }
        if let answer = state.withLock({ idleness($0) }) { return answer }
        guard mayIdle() else { return .busy }
        // Until the server has the disconnect, no reconnect may overtake it (`reconnecting`).
        guard let (handle, count) = state.withLock({ state -> (UInt64, UInt32)? in
            guard idleness(state) == nil else { return nil }
            state.status = .idle
            state.reconnecting = true
            return (state.handle, state.connectionCount)
        }) else { return .busy }
        let xid = newXid()
        var message = PtlRPCMessage(opcode: configuration.disconnectOpcode, xid: xid, buffers: [])
        message.handle = handle
        message.connectionCount = count
        message.timeout = UInt32(currentTimeout())
        do throws(LustreError) {
            _ = try await attempt(message, bulk: nil)
        } catch {
            // The server will evict the silent export instead.
            CDEBUG(.ha, "\(targetName): idle disconnect: \(error)")
        }
        let wanted = state.withLock { state -> Bool in
            state.inflightXids.remove(xid)
            state.reconnecting = false
            return !state.waiters.isEmpty
        }
        CDEBUG(.ha, "\(targetName): idle for \(Int(seconds)) s: disconnected from \(target.nid)")
        if wanted { startReconnecting() }
        return .disconnected
    }

    /// Sends `message` to a server in recovery, before the import is FULL: flagged `MSG_REPLAY`,
    /// on the connection `handle` and `connectionCount` being made. `replay` sends its entries
    /// this way, and `onRecovery`'s handler its requests.
    private func sendInRecovery(_ message: PtlRPCMessage, bulk: Bulk?, handle: UInt64,
                                connectionCount: UInt32) async throws(LustreError) -> PtlRPCMessage {
        var message = message
        message.flags.insert(.replay)
        message.handle = handle
        message.connectionCount = connectionCount
        message.timeout = UInt32(currentTimeout())
        return try await attempt(message, bulk: bulk).reply
    }

    /// Requests awaiting commit (for tests and `*.import`).
    public var replayCount: Int { state.withLock { $0.replayList.count } }

    /// Bytes of bulk writes the server executed but has not committed: pinned here for replay
    /// until it does (Lustre's unstable pages).
    public var unstableBytes: Int { state.withLock { $0.unstableBytes } }

    /// What `osc.*.import` and `mdc.*.import` show of this import, at one moment.
    public struct Snapshot: Sendable, Equatable {
        public var status: Status
        /// Connect attempts so far (`imp_conn_cnt`).
        public var connectionAttempts: UInt32
        /// Calls waiting for a reply now (`imp_inflight`).
        public var inflight: Int
        public var timeouts: UInt32
        /// Current adaptive estimate of one round trip with service, seconds.
        public var estimate: Double
        public var lastReplayTransno: UInt64
        public var peerCommitted: UInt64
        /// Wall-clock seconds of the last reply, 0 before any.
        public var lastReplyTime: Int64

        public init(status: Status, connectionAttempts: UInt32, inflight: Int, timeouts: UInt32, estimate: Double,
                    lastReplayTransno: UInt64, peerCommitted: UInt64, lastReplyTime: Int64) {
            self.status = status
            self.connectionAttempts = connectionAttempts
            self.inflight = inflight
            self.timeouts = timeouts
            self.estimate = estimate
            self.lastReplayTransno = lastReplayTransno
            self.peerCommitted = peerCommitted
            self.lastReplyTime = lastReplyTime
        }
    }

    /// The import's state for its status file.
    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(status: state.status, connectionAttempts: state.connectionCount, inflight: state.inflightXids.count,
                     timeouts: state.timeouts, estimate: state.estimate, lastReplayTransno: state.lastReplayTransno,
                     peerCommitted: state.lastCommitted, lastReplyTime: state.lastReplyTime)
        }
    }

    /// Times a replay answered `EAGAIN` is sent again (at 0.2 s intervals) before it counts as failed.
    static let maxReplayAgain = 600

    /// Sends every uncommitted request again, in transno order, to a server
    /// that restarted and lost them. Runs before the import turns FULL, so no
    /// new request overtakes a replay.
    private func replay(handle: UInt64, connectionCount: UInt32) async throws(LustreError) {
        let entries = state.withLock { Array($0.replayList.values) }.sorted { $0.transno < $1.transno }
        guard !entries.isEmpty else { return }
        LCONSOLE("\(targetName): replaying \(entries.count) uncommitted requests")
        for entry in entries {
            var message = entry.message
            // As Lustre's replay: the transno the server gave, so a server that already has
            // the change durable (transno <= its last_committed) answers without redoing it.
            message.transno = entry.transno
            if case .write(let parts) = entry.bulk, let type = configuration.checksumType {
                message.bulkChecksum = BulkChecksum.compute(type, parts)
            }
            var reply = try await sendInRecovery(message, bulk: entry.bulk, handle: handle,
                                                 connectionCount: connectionCount)
            // "Again": the server holds it back for a lower transno another client may still
            // replay (or its bulk did not come whole). Bounded by the server's own patience.
            var again = 0
            while reply.status == -EAGAIN && again < Self.maxReplayAgain {
                again += 1
                try? await Task.sleep(nanoseconds: 200_000_000)
                reply = try await sendInRecovery(message, bulk: entry.bulk, handle: handle, connectionCount: connectionCount)
            }
            if reply.status < 0 {
                CERROR("\(targetName): replay of xid \(message.xid) (opcode \(message.opcode)) failed: "
                       + "\(LustreError(status: reply.status))")
            }
            state.withLock { state in
                state.lastReplayTransno = max(state.lastReplayTransno, entry.transno)
                if reply.status >= 0 && reply.transno > reply.lastCommitted {
                    state.replayList[message.xid]?.transno = reply.transno
                } else if let dropped = state.replayList.removeValue(forKey: message.xid) {
                    changeUnstable(&state, by: -dropped.bulkBytes)
                }
            }
        }
    }

    private func newXid() -> UInt64 {
        let xid = xids.loadThenWrappingIncrement(ordering: .relaxed)
        state.withLock {
            $0.inflightXids.insert(xid)
            $0.highestXid = max($0.highestXid, xid)
        }
        return xid
    }

    /// Whether `bulk` goes as short I/O, inside the messages: small enough, and the server can.
    private func isShort(_ bulk: Bulk?) -> Bool {
        guard let length = bulk?.length else { return false }
        guard let limit = configuration.shortIOBytes?.value, length <= limit else { return false }
        return PtlRPCConnectFlags(rawValue: serverFlags.load(ordering: .relaxed)).contains(.shortIO)
    }

    /// `message` marked as short I/O, with a write's data as its last buffer (a read's comes in the reply).
    private static func carryingShortIO(_ message: PtlRPCMessage, _ bulk: Bulk?) -> PtlRPCMessage {
        var message = message
        message.flags.insert(.shortIO)
        if case .write(let parts) = bulk {
            // Short I/O is small: one buffer, as the server reads it.
            if parts.count == 1 {
                message.buffers.append(parts[0])
            } else {
                var data = ByteBufferAllocator().buffer(capacity: bulk?.length ?? 0)
                for part in parts { data.writeImmutableBuffer(part) }
                message.buffers.append(data)
            }
        }
        return message
    }

    /// One send of `message` and the wait for its reply (and bulk).
    private func attempt(_ message: PtlRPCMessage, bulk: Bulk?) async throws(LustreError) -> Response {
        lastSent.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
        let short = isShort(bulk)
        let message = short ? Self.carryingShortIO(message, bulk) : message
        let loop = lnet.eventLoop(for: target)
        let promise = PtlRPCWaiter<PtlRPCMessage>()
        let replyMD = lnet.attach(portal: configuration.portals.reply, matchBits: message.xid,
                                  md: .sink(maxLength: PtlRPCService.maxRequestSize, peer: target) { delivery in
                                      defer { delivery.release() }
                                      do {
                                          promise.succeed(try PtlRPCMessage(decoding: delivery.payload))
                                      } catch {
                                          promise.fail(error)
                                      }
                                  })
        var bulkMD: MDHandle?
        var bulkArrived: PtlRPCWaiter<ByteBuffer>?
        switch short ? nil : bulk {
        case .write(let parts):
            bulkMD = lnet.attach(portal: configuration.portals.bulk, matchBits: message.xid,
                                 md: .source(parts: parts, threshold: nil, peer: target))
        case .read(let maxLength):
            let arrived = PtlRPCWaiter<ByteBuffer>()
            bulkArrived = arrived
            bulkMD = lnet.attach(portal: configuration.portals.bulk, matchBits: message.xid,
                                 md: .sink(maxLength: maxLength, peer: target) { delivery in
                                     delivery.release()
                                     arrived.succeed(delivery.payload)
                                 })
        case nil:
            break
        }
        let timeout = Double(message.timeout)
        let deadline = NIODeadline.now() + .milliseconds(Int64(timeout * 1000))
        let (inflight, armSweep) = state.withLock { state -> (Int, Bool) in
            state.attempts[message.xid] = Attempt(reply: promise, deadline: deadline, seconds: message.timeout)
            return (state.attempts.count, Self.claimSweep(&state, deadline))
        }
        if armSweep { scheduleSweep(at: deadline, on: loop) }
        configuration.stats?.sent(inflight: inflight)
        let sent = Self.now()
        // A lone RPC goes out from this thread; a stream of them is batched by the loop.
        // Only a failed send is news here (the reply says the rest), so no promise wakes the loop.
        lnet.putWithoutCompletion(to: target, portal: configuration.portals.request, matchBits: message.xid,
                                  payload: message.encoded(), alone: inflight == 1) { promise.fail($0) }
        defer {
            lnet.unlink(replyMD)
            if let bulkMD { lnet.unlink(bulkMD) }
            bulkArrived?.fail(LustreError(errno: ECANCELED, "attempt over"))
            state.withLock { $0.attempts[message.xid] = nil }
        }
        do {
            var reply = try await promise.value()
            var data: ByteBuffer?
            if short, reply.flags.contains(.shortIO), !reply.buffers.isEmpty {
                data = reply.buffers.removeLast()
            } else if short, reply.status >= 0, case .read = bulk {
                throw LustreError(errno: EPROTO, "\(targetName): short read xid \(message.xid) answered without its data")
            }
            if let bulkArrived, reply.status >= 0 {
                // The reply can overtake the bulk, which rides another connection.
                let bulkTimer = loop.scheduleTask(in: .milliseconds(Int64(timeout * 1000))) {
                    bulkArrived.fail(LustreError.timedOut("\(self.targetName): bulk of xid \(message.xid) never came"))
                }
                defer { bulkTimer.cancel() }
                data = try await bulkArrived.value()
            }
            let elapsed = Self.now() - sent
            learn(elapsed: Double(elapsed) / 1e9)
            configuration.stats?.replied(opcode: message.opcode, microseconds: Int64(elapsed / 1000))
            return Response(reply: reply, bulk: data)
        } catch {
            throw LNetInstance.lustreError(error, "\(targetName) xid \(message.xid)")
        }
    }

    // MARK: Reply timeouts

    /// Whether an attempt due at `deadline` needs the sweep scheduled: none is,
    /// or the one scheduled comes later. Attempts share one NIO timer rather
    /// than each scheduling and cancelling its own, which from a task thread
    /// costs a wake-up of the event loop per request.
    private static func claimSweep(_ state: inout State, _ deadline: NIODeadline) -> Bool {
        if let due = state.sweepAt, due <= deadline { return false }
        state.sweepAt = deadline
        return true
    }

    private func scheduleSweep(at deadline: NIODeadline, on loop: EventLoop) {
        loop.scheduleTask(deadline: deadline) { [weak self] in self?.sweepTimeouts(on: loop) }
    }

    /// Fails the attempts past their deadline and schedules the sweep again
    /// for the earliest deadline left.
    private func sweepTimeouts(on loop: EventLoop) {
        let now = NIODeadline.now()
        let (expired, next) = state.withLock { state -> ([(UInt64, Attempt)], NIODeadline?) in
            var expired: [(UInt64, Attempt)] = []
            var next: NIODeadline?
            for (xid, attempt) in state.attempts {
                if attempt.deadline <= now {
                    expired.append((xid, attempt))
                } else if next.map({ attempt.deadline < $0 }) ?? true {
                    next = attempt.deadline
                }
            }
            // A sweep scheduled for an earlier deadline (a shorter timeout) ran already or still will.
            if let due = state.sweepAt, due > now, next.map({ due <= $0 }) ?? true { return (expired, nil) }
            state.sweepAt = next
            return (expired, next)
        }
        for (xid, attempt) in expired {
            attempt.reply.fail(LustreError.timedOut("\(targetName): no reply to xid \(xid) in \(attempt.seconds) s"))
        }
        if let next { scheduleSweep(at: next, on: loop) }
    }

    // MARK: Connection management

    private func waitUntilFull(deadline: UInt64) async throws(LustreError) {
        let status = status
        if status == .full { return }
        if status == .closed { throw LustreError(errno: ESHUTDOWN, "import to \(targetName) closed") }
        startReconnecting()
        let id = nextWaiter.loadThenWrappingIncrement(ordering: .relaxed)
        let timer = lnet.eventLoopGroup.any().scheduleTask(in: .nanoseconds(Int64(deadline) - Int64(Self.now()))) {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: LustreError.timedOut("\(self.targetName) unreachable (import \(self.status.rawValue))"))
        }
        defer { timer.cancel() }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let (resumeNow, reconnect) = state.withLock { state -> (Result<Void, LustreError>?, Bool) in
                    if state.status == .full { return (.success(()), false) }
                    if state.status == .closed { return (.failure(LustreError(errno: ESHUTDOWN, "import closed")), false) }
                    state.waiters[id] = continuation
                    // An idle disconnect that held reconnects off may have ended since the
                    // `startReconnecting` above.
                    return (nil, !state.reconnecting)
                }
                if let resumeNow { continuation.resume(with: resumeNow) }
                if reconnect { startReconnecting() }
            }
        } catch {
            throw LNetInstance.lustreError(error, "")
        }
    }

    /// Starts the reconnect loop unless one runs or the import is FULL or closed: for a call
    /// that waits (`waitUntilFull`), or at once after a lost connection (`reconnectWhenLost`).
    private func startReconnecting() {
        let start = state.withLock { state -> Bool in
            guard state.status != .full, state.status != .closed, !state.reconnecting else { return false }
            state.reconnecting = true
            return true
        }
        if start { Task { await self.reconnectLoop() } }
    }

    /// Reconnects until the import is full or closed. Only one runs per import: `reconnecting`
    /// is set by whoever starts it and cleared by the loop alone, as it ends; a failed attempt
    /// that cleared it would let every caller arriving during the back-off start one more loop.
    private func reconnectLoop() async {
        var delay: UInt64 = 100_000_000
        while true {
            let done = state.withLock { state -> Bool in
                guard state.status == .closed || state.status == .full else { return false }
                state.reconnecting = false
                return true
            }
            if done { return }
            do {
                try await reconnectOnce()
                continue
            } catch {
                CDEBUG(.ha, "\(targetName): connect failed: \(error); retrying in \(delay / 1_000_000) ms")
            }
            try? await Task.sleep(nanoseconds: delay)
            delay = min(delay * 2, 2_000_000_000)
        }
    }

    /// The import's adaptive timeout for one attempt, cut to `bound` seconds (at least 1) when
    /// the caller has less time than that.
    private func attemptTimeout(within bound: Double?) -> UInt32 {
        UInt32(min(currentTimeout(), max(1, (bound ?? .infinity).rounded(.up))))
    }

    private func reconnectOnce(timeout: Double? = nil) async throws(LustreError) {
        let (count, wasLost) = state.withLock { state -> (UInt32, Bool) in
            state.connectionCount += 1
            // An idle import coming back was not lost: the console says nothing of it.
            let wasLost = state.serverInstance != 0 && state.status != .idle
            if state.status != .closed { state.status = .connecting }
            return (state.connectionCount, wasLost)
        }
        let (connectRequest, connectAnswer) = callbacks.withLock { ($0.connectRequest, $0.connectAnswer) }
        var message = PtlRPCMessage(opcode: configuration.connectOpcode,
                                    xid: xids.loadThenWrappingIncrement(ordering: .relaxed),
                                    buffers: [ByteBuffer(string: targetName), ByteBuffer(string: clientUUID)]
                                        + (connectRequest.map { [$0()] } ?? []))
        let sentAt = MonotonicClock.nanoseconds()
        message.connectionCount = count
        message.timeout = attemptTimeout(within: timeout)
        let reply: PtlRPCMessage
        do {
            reply = try await attempt(message, bulk: nil).reply
        } catch {
            state.withLock {
                if $0.status == .connecting { $0.status = .disconnected }
            }
            throw error
        }
        guard reply.status == 0 else {
            state.withLock {
                if $0.status == .connecting { $0.status = .disconnected }
            }
            throw LustreError(status: reply.status, "connect to \(targetName) at \(target.nid)")
        }
        var body = try reply.buffer(0, "server instance")
        let instance = body.readInteger(endianness: .little, as: UInt64.self) ?? 0
        // Before any replay below: a replayed request goes as this server can take it.
        serverFlags.store(body.readInteger(endianness: .little, as: UInt64.self) ?? 0, ordering: .relaxed)
        let restarted = state.withLock { $0.serverInstance != 0 && $0.serverInstance != instance }
        connectAnswer?(reply.buffers.count > 1 ? reply.buffers[1] : nil, sentAt)
        if restarted {
            LCONSOLE("\(targetName): server restarted (instance \(instance)), reconnected")
            do {
                try await replay(handle: reply.handle, connectionCount: count)
                if let handler = callbacks.withLock({ $0.recovery }) {
                    let handle = reply.handle
                    await handler { [self] opcode, buffers throws(LustreError) in
                        let xid = newXid()
                        defer { _ = state.withLock { $0.inflightXids.remove(xid) } }
                        return try await sendInRecovery(PtlRPCMessage(opcode: opcode, xid: xid, buffers: buffers),
                                                        bulk: nil, handle: handle, connectionCount: count)
                    }
                }
            } catch {
                state.withLock {
                    if $0.status == .connecting { $0.status = .disconnected }
                }
                throw error
            }
        }
        lastActive.store(MonotonicClock.nanoseconds(), ordering: .relaxed)
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Error>] in
            state.serverInstance = instance
            state.handle = reply.handle
            state.status = state.status == .closed ? .closed : .full
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        if wasLost {
            LCONSOLE("\(targetName): Connection restored to \(target.nid)")
        }
        for waiter in waiters { waiter.resume() }
        startPinger()
    }

    /// Starts, once, Lustre's pinger for this import: while it is open, a ping goes to the
    /// server whenever no request left for `ObdTimeout.pingInterval`, so that the server does
    /// not evict an idle but living client (and a lost server is noticed and reconnected to);
    /// an import unused for its idle timeout is disconnected instead (`idleDisconnect`).
    private func startPinger() {
        pinger.withLock { pinger in
            guard pinger == nil else { return }
            // Holds the import only while it works, not while it sleeps: an import dropped
            // without `disconnect()` still goes.
            pinger = Task { [weak self] in
                while !Task.isCancelled {
                    let now = MonotonicClock.nanoseconds()
                    guard let step = await self?.pingerStep(now: now, interval: ObdTimeout.pingInterval) else { return }
                    switch step {
                    case .stop: return
                    case .again: continue
                    case .sleep(let nanoseconds): try? await Task.sleep(for: .nanoseconds(nanoseconds))
                    }
                }
            }
        }
    }

    private enum PingerStep {
        case stop, again
        case sleep(Int)
    }

    private func pingerStep(now: UInt64, interval: Double) async -> PingerStep {
        switch status {
        case .closed: return .stop
        case .idle: return .sleep(1_000_000_000)
        default: break
        }
        var due = lastSent.load(ordering: .relaxed) &+ UInt64(interval * 1e9)
        if status == .full {
            switch await disconnectIfIdle(now: now) {
            case .disconnected: return .again
            // A ping brings the server's last committed transno: ask at most every second.
            case .awaitingCommit: due = min(due, lastSent.load(ordering: .relaxed) &+ 1_000_000_000)
            case .busy: break
            }
        }
        if due > now {
            // At least every second: a shorter `timeout` or idle timeout set meanwhile counts at once.
            return .sleep(Int(min(due - now, 1_000_000_000)))
        }
        do throws(LustreError) {
            try await ping(timeout: interval)
        } catch {
            CDEBUG(.ha, "\(targetName): ping: \(error)")
            if error.errno == ESHUTDOWN { return .stop }
            return .sleep(Int(min(interval, 1) * 1e9))
        }
        return .again
    }

    private func markDisconnected(because reason: String) {
        let attempts = state.withLock { state -> [PtlRPCWaiter<PtlRPCMessage>] in
            guard state.status == .full else { return [] }
            state.status = .disconnected
            defer { state.attempts = [:] }
            return state.attempts.values.map(\.reply)
        }
        CDEBUG(.ha, "\(targetName): connection to \(target.nid) lost: \(reason)")
        let error = LustreError(errno: ECONNRESET, "connection to \(targetName) lost")
        for attempt in attempts { attempt.fail(error) }
    }

    private func peerEvent(_ event: LNetPeerEvent) {
        switch event {
        case .down(let peer, let error) where peer == target:
            let wasFull = state.withLock { $0.status == .full }
            if wasFull { CWARN("\(targetName): Connection to \(target.nid) was lost; in progress operations will wait for recovery to complete") }
            markDisconnected(because: "\(error)")
        case .restarted(let peer) where peer == target:
            markDisconnected(because: "server restarted")
        default:
            return
        }
        if status != .idle, callbacks.withLock({ $0.reconnectWanted })?() == true { startReconnecting() }
    }

    // MARK: Adaptive timeouts

    /// Takes in the round trip of a reply that just came.
    private func learn(elapsed: Double) {
        let wallNow = WallClock.now().seconds
        state.withLock { state in
            state.lastReplyTime = wallNow
            // Rise at once, decay slowly: as Lustre's adaptive timeouts keep the worst recent time.
            state.estimate = max(elapsed, state.estimate * 0.95 + elapsed * 0.05)
        }
    }

    private func currentTimeout() -> Double {
        let estimate = state.withLock { $0.estimate }
        return min(configuration.maxTimeout, max(configuration.minTimeout, (estimate * 3).rounded(.up)))
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
