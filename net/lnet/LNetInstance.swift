import Atomics
import LibCFS
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What an LNet instance tells its users about a peer.
public enum LNetPeerEvent: Sendable {
    /// The first connection to a peer came up.
    case connected(ProcessID)
    /// The peer answered with a new incarnation: it restarted and forgot us.
    case restarted(ProcessID)
    /// The last connection to the peer went away.
    case down(ProcessID, LustreError)
}

/// One process's LNet: its NID, the acceptor, connections to peers, the
/// portal match table, and the PUT/GET/ACK/REPLY machinery.
public final class LNetInstance: Sendable {
    public let nid: NID
    public let pid: UInt32
    public var processID: ProcessID { ProcessID(nid: nid, pid: pid) }
    /// Changes with every start, so peers can tell a restarted process apart.
    public let incarnation: UInt64
    public let configuration: LNetConfiguration
    /// NIO's process-wide loops: never shut down, so a timer or a future made
    /// after this instance stops still completes (with an error).
    let group: MultiThreadedEventLoopGroup
    /// The event loops LNet's sockets run on; callers may schedule timers on them.
    public var eventLoopGroup: any EventLoopGroup { group }

    private struct PeerState {
        var incarnation: UInt64?
        var connections: [LNetConnectionType: [LNetConnection]] = [:]
        var connecting: [LNetConnectionType: EventLoopFuture<LNetConnection>] = [:]
        var failures = 0
        var nextAttempt: NIODeadline = .uptimeNanoseconds(0)
    }

    private struct Pending {
        var peer: ProcessID
        var reply: EventLoopPromise<ByteBuffer>
        var timeout: Scheduled<Void>?
        /// The connection the operation went out on, once it has: losing that
        /// connection loses the operation; losing another one does not.
        var connection: ObjectIdentifier?
    }

    private let portals = Mutex(PortalTable())
    private let peers = Mutex([ProcessID: PeerState]())
    private let pending = Mutex([UInt64: Pending]())
    private let nextCookie = ManagedAtomic<UInt64>(1)
    private let listener = Mutex<Channel?>(nil)
    /// Every socket of this instance, registered with a peer yet or not, so
    /// shutdown closes them all (the event loops are shared and live on).
    private let channels = Mutex([ObjectIdentifier: Channel]())
    private let observers = Mutex([UInt64: @Sendable (LNetPeerEvent) -> Void]())
    private let stopped = ManagedAtomic<Bool>(false)
    var isStopped: Bool { stopped.load(ordering: .relaxed) }

    /// The reserved portal and match bits of LNet's own ping (`LNET_PROTO_PING_MATCHBITS`).
    static let pingPortal: UInt32 = 0
    static let pingMatchBits: UInt64 = 0x8000_0000_0000_0000
    static let pingMagic: UInt32 = 0x7069_6e67

    private init(nid: NID, pid: UInt32, configuration: LNetConfiguration) {
        self.nid = nid
        self.pid = pid
        self.configuration = configuration
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        self.incarnation = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        self.group = MultiThreadedEventLoopGroup.singleton
    }

    /// Starts LNet on `nid`; with `configuration.listen`, the acceptor binds the
    /// NID's address on the accept port.
    public static func start(nid: NID, pid: UInt32? = nil,
                             configuration: LNetConfiguration = LNetConfiguration()) async throws(LustreError) -> LNetInstance {
        guard nid.netType == .tcp else { throw .invalid("LNet needs a tcp NID to run on, not \(nid)") }
        let pid = pid ?? (configuration.listen ? ProcessID.lustrePID : (0x8000_0000 | UInt32(getpid())))
        keepBulkBuffersOffMmap()
        let lnet = LNetInstance(nid: nid, pid: pid, configuration: configuration)
        lnet.attachPingResponder()
        if configuration.listen {
            do {
                try await lnet.startAcceptor()
            } catch {
                await lnet.shutdown()
                throw error
            }
        }
        CDEBUG(.net, "LNet up on \(nid) pid \(pid) incarnation \(lnet.incarnation)")
        return lnet
    }

    /// Bulk payloads are megabyte buffers allocated per message. Above glibc's
    /// mmap threshold each would be fresh pages, faulted in and zeroed by the
    /// kernel every time (a tenth of the CPU of a transfer); below it they are
    /// recycled heap. Process-wide, so done once, for any process using LNet.
    private static func keepBulkBuffersOffMmap() {
        _ = mmapTuned
    }

    private static let mmapTuned: Bool = {
        MemoryTuning.keepLargeAllocationsOnHeap(upTo: LNetLimits.maxPayload * 2)
        return true
    }()

    /// Closes the acceptor and every connection and stops the event loops.
    public func shutdown() async {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        let server = listener.withLock { $0 }
        try? await server?.close()
        for channel in channels.withLock({ Array($0.values) }) {
            try? await channel.close()
        }
        failPending(where: { _ in true }, LustreError(errno: ESHUTDOWN, "LNet is shutting down"))
    }

    // MARK: Observers

    /// Calls `handler` on every peer event; returns a token for `removeObserver`.
    @discardableResult
    public func addObserver(_ handler: @escaping @Sendable (LNetPeerEvent) -> Void) -> UInt64 {
        let token = nextCookie.loadThenWrappingIncrement(ordering: .relaxed)
        observers.withLock { $0[token] = handler }
        return token
    }

    public func removeObserver(_ token: UInt64) {
        _ = observers.withLock { $0.removeValue(forKey: token) }
    }

    private func notify(_ event: LNetPeerEvent) {
        for handler in observers.withLock({ Array($0.values) }) { handler(event) }
    }

    // MARK: Match entries

    /// Attaches `md` to `portal` for operations whose match bits equal
    /// `matchBits` outside `ignoreBits`.
    public func attach(portal: UInt32, matchBits: UInt64, ignoreBits: UInt64 = 0, md: MemoryDescriptor) -> MDHandle {
        portals.withLock { $0.attach(portal: portal, matchBits: matchBits, ignoreBits: ignoreBits, md: md) }
    }

    /// Unlinks a descriptor; returns false when it was already used up or gone.
    @discardableResult
    public func unlink(_ handle: MDHandle) -> Bool {
        portals.withLock { $0.unlink(handle) }
    }

    // MARK: Active operations

    /// Sends a PUT. The future completes when the bytes are handed to the
    /// kernel, or with `ack`, when the target acknowledged the match.
    ///
    /// `alone` says the caller has nothing else in flight to this peer (one RPC, not
    /// a stream): the frame is then written from this thread if the connection is
    /// quiet, saving a wake-up of the event loop; frames of a stream are batched by it.
    @discardableResult
    public func put(to target: ProcessID, portal: UInt32, matchBits: UInt64, headerData: UInt64 = 0,
                    payload: ByteBuffer, ack: Bool = false, alone: Bool = false) -> EventLoopFuture<Void> {
        let loop = eventLoop(for: target)
        guard payload.readableBytes <= LNetLimits.maxPayload else {
            return loop.makeFailedFuture(LustreError(errno: EMSGSIZE, "PUT of \(payload.readableBytes) bytes to \(target)"))
        }
        var header = LNetHeader(type: .put, payloadLength: UInt32(payload.readableBytes), source: processID,
                                destination: target, portal: portal, matchBits: matchBits, headerData: headerData)
        guard ack else {
            let sent = loop.makePromise(of: Void.self)
            transmit(header, payload: .one(payload), to: target, completion: .promise(sent), alone: alone)
            return sent.futureResult
        }
        header.flagsOrStatus = LNetHeader.ackRequested
        let (cookie, acked) = expectReply(from: target, on: loop)
        header.cookie = cookie
        let sent = loop.makePromise(of: Void.self)
        sent.futureResult.whenFailure { self.completePending(cookie, .failure($0)) }
        transmit(header, payload: .one(payload), to: target, completion: .promise(sent), alone: alone)
        return acked.map { _ in () }
    }

    /// Sends a PUT nobody waits on, such as a PtlRPC reply or a request whose reply is awaited:
    /// no promise is made for it, which costs a wake-up of the event loop when a send written
    /// from the caller's thread completes it. A send that fails is reported to `onFailure` (from
    /// whichever thread met the failure), or only logged without one. `alone` as for `put`.
    public func putWithoutCompletion(to target: ProcessID, portal: UInt32, matchBits: UInt64, payload: ByteBuffer,
                                     alone: Bool = false, onFailure: (@Sendable (any Error) -> Void)? = nil) {
        guard payload.readableBytes <= LNetLimits.maxPayload else {
            let error = LustreError(errno: EMSGSIZE, "PUT of \(payload.readableBytes) bytes to \(target)")
            if let onFailure { onFailure(error) } else { CERROR("dropping \(error)") }
            return
        }
        let header = LNetHeader(type: .put, payloadLength: UInt32(payload.readableBytes), source: processID,
                                destination: target, portal: portal, matchBits: matchBits)
        transmit(header, payload: .one(payload), to: target, completion: onFailure.map { .onFailure($0) }, alone: alone)
    }

    /// Sends a GET for at most `length` bytes of the target's descriptor;
    /// the future carries the bytes of the REPLY.
    public func get(from target: ProcessID, portal: UInt32, matchBits: UInt64, length: Int,
                    timeout: Int64? = nil) -> EventLoopFuture<ByteBuffer> {
        let loop = eventLoop(for: target)
        let (cookie, reply) = expectReply(from: target, on: loop, timeout: timeout)
        let header = LNetHeader(type: .get, source: processID, destination: target, portal: portal,
                                matchBits: matchBits, cookie: cookie, length: UInt32(clamping: length))
        let sent = loop.makePromise(of: Void.self)
        sent.futureResult.whenFailure { self.completePending(cookie, .failure($0)) }
        transmit(header, payload: .none, to: target, completion: .promise(sent))
        return reply
    }

    /// LNet's ping: asks the node at `nid` for its process id and NIDs.
    public func ping(_ nid: NID, timeout: Int64 = 5) async throws(LustreError) -> [ProcessID] {
        let target = ProcessID(nid: nid, pid: ProcessID.lustrePID)
        let reply = get(from: target, portal: Self.pingPortal, matchBits: Self.pingMatchBits, length: 4096,
                        timeout: timeout)
        var buffer: ByteBuffer
        do {
            buffer = try await reply.get()
        } catch {
            throw Self.lustreError(error, "ping \(nid)")
        }
        guard buffer.readInteger(endianness: .little, as: UInt32.self) == Self.pingMagic,
              let pid = buffer.readInteger(endianness: .little, as: UInt32.self),
              let count = buffer.readInteger(endianness: .little, as: UInt32.self), count <= 64
        else { throw .protocolError("malformed ping reply from \(nid)") }
        var ids: [ProcessID] = []
        for _ in 0..<count {
            guard let wire = buffer.readInteger(endianness: .little, as: UInt64.self),
                  let peerNID = NID(validatingWire: wire)
            else { throw .protocolError("malformed ping reply from \(nid)") }
            ids.append(ProcessID(nid: peerNID, pid: pid))
        }
        return ids
    }

    /// Any error as a `LustreError`, keeping errnos NIO reports.
    public static func lustreError(_ error: any Error, _ context: String) -> LustreError {
        switch error {
        case let error as LustreError: return error.adding(context: context)
        case let error as IOError: return LustreError(errno: error.errnoCode, context)
        case is ChannelError: return LustreError(errno: ECONNRESET, context)
        default: return LustreError(errno: EIO, "\(context): \(error)")
        }
    }

    /// The event loop of the control connection to `peer`, or any loop when
    /// there is none yet. Promises made there complete without a thread hop.
    public func eventLoop(for peer: ProcessID) -> EventLoop {
        establishedConnection(to: peer, type: .control)?.channel.eventLoop ?? group.any()
    }

    // MARK: Pending ACKs and REPLYs

    private func expectReply(from peer: ProcessID, on loop: EventLoop,
                             timeout seconds: Int64? = nil) -> (UInt64, EventLoopFuture<ByteBuffer>) {
        let cookie = nextCookie.loadThenWrappingIncrement(ordering: .relaxed)
        let promise = loop.makePromise(of: ByteBuffer.self)
        let timeout = loop.scheduleTask(in: .seconds(seconds ?? configuration.transactionTimeout)) {
            self.completePending(cookie, .failure(LustreError.timedOut("no ACK/REPLY from \(peer)")))
        }
        pending.withLock { $0[cookie] = Pending(peer: peer, reply: promise, timeout: timeout) }
        return (cookie, promise.futureResult)
    }

    private func completePending(_ cookie: UInt64, _ result: Result<ByteBuffer, Error>, from peer: ProcessID? = nil) {
        let entry = pending.withLock { table -> Pending? in
            guard let entry = table[cookie], peer == nil || entry.peer == peer else { return nil }
            return table.removeValue(forKey: cookie)
        }
        guard let entry else {
            if let peer { CDEBUG(.net, "dropping ACK/REPLY from \(peer): no operation has cookie \(cookie)") }
            return
        }
        entry.timeout?.cancel()
        entry.reply.completeWith(result)
    }

    private func failPending(where matches: (ProcessID) -> Bool, _ error: LustreError) {
        failPending(matching: { matches($0.peer) }, error)
    }

    /// Fails the operations that went out on one of `connections`.
    private func failPending(sentOn connections: [LNetConnection], _ error: LustreError) {
        let ids = Set(connections.map { ObjectIdentifier($0) })
        failPending(matching: { $0.connection.map(ids.contains) ?? false }, error)
    }

    private func failPending(matching matches: (Pending) -> Bool, _ error: LustreError) {
        let entries = pending.withLock { table -> [Pending] in
            let cookies = table.filter { matches($0.value) }.map(\.key)
            return cookies.compactMap { table.removeValue(forKey: $0) }
        }
        for entry in entries {
            entry.timeout?.cancel()
            entry.reply.fail(error)
        }
    }

    // MARK: Sending

    /// Sends a frame; `promise` (if any) completes once the kernel has it.
    private func transmit(_ header: LNetHeader, payload: LNetPayload, to target: ProcessID, completion: LNetSendCompletion?,
                          alone: Bool = false) {
        if target == processID || target.nid.netType == .lo {
            // Talking to ourselves: no socket, deliver on a loop thread.
            (completion?.eventLoop ?? group.any()).execute {
                self.deliver(LNetMessage(header: header, payload: payload.flattened), on: nil)
                completion?.succeed()
            }
            return
        }
        let type: LNetConnectionType = payload.readableBytes > configuration.minBulk ? .bulk : .control
        if let connection = establishedConnection(to: target, type: type) {
            // The common case: no future, no hop to another thread.
            send(header, payload: payload, on: connection, completion: completion, alone: alone)
            return
        }
        connection(to: target, type: type).whenComplete { result in
            switch result {
            case .success(let connection):
                self.send(header, payload: payload, on: connection, completion: completion)
            case .failure(let error):
                let error = Self.lustreError(error, "send to \(target)")
                if let completion {
                    completion.fail(error)
                } else {
                    CDEBUG(.net, "\(header.type) to \(target) not sent: \(error)")
                }
            }
        }
    }

    private func send(_ header: LNetHeader, payload: LNetPayload, on connection: LNetConnection,
                      completion: LNetSendCompletion?, alone: Bool = false) {
        let awaitsAnswer = header.type == .get
            || (header.type == .put && header.flagsOrStatus & LNetHeader.ackRequested != 0)
        if awaitsAnswer {
            pending.withLock { $0[header.cookie]?.connection = ObjectIdentifier(connection) }
        }
        connection.send(header, payload: payload, completion: completion, alone: alone)
    }

    /// An open connection of `type` to `peer`; for a peer without an acceptor,
    /// which we cannot connect to, any open connection it made to us.
    private func establishedConnection(to peer: ProcessID, type: LNetConnectionType) -> LNetConnection? {
        peers.withLock { peers in
            guard let state = peers[peer] else { return nil }
            if let connection = state.connections[type]?.first(where: { !$0.isClosed }) { return connection }
            guard peer.pid & 0x8000_0000 != 0 else { return nil }
            return state.connections.values.lazy.flatMap { $0 }.first { !$0.isClosed }
        }
    }

    /// An established connection of `type` to `peer`, connecting if there is none.
    private func connection(to peer: ProcessID, type: LNetConnectionType) -> EventLoopFuture<LNetConnection> {
        enum Step {
            case ready(LNetConnection)
            case wait(EventLoopFuture<LNetConnection>)
            case refuse(LustreError)
            case connect(EventLoopPromise<LNetConnection>, after: TimeAmount?)
        }
        let loop = group.any()
        let step = peers.withLock { peers -> Step in
            var state = peers[peer] ?? PeerState()
            defer { peers[peer] = state }
            if let connection = state.connections[type]?.first(where: { !$0.isClosed }) { return .ready(connection) }
            if let future = state.connecting[type] { return .wait(future) }
            if stopped.load(ordering: .relaxed) { return .refuse(LustreError(errno: ESHUTDOWN, "LNet stopped")) }
            if peer.pid & 0x8000_0000 != 0 {
                return .refuse(LustreError(errno: EHOSTUNREACH, "\(peer) has no acceptor and is not connected"))
            }
            // Within the back-off after a failed attempt, the sends wait for the next
            // attempt (as socklnd queues them on the peer) instead of failing at once.
            let delay = state.nextAttempt - NIODeadline.now()
            let promise = loop.makePromise(of: LNetConnection.self)
            state.connecting[type] = promise.futureResult
            return .connect(promise, after: delay > .zero ? delay : nil)
        }
        switch step {
        case .ready(let connection): return loop.makeSucceededFuture(connection)
        case .wait(let future): return future
        case .refuse(let error): return loop.makeFailedFuture(error)
        case .connect(let promise, let delay):
            if let delay {
                loop.scheduleTask(in: delay) { self.startConnect(to: peer, type: type, promise: promise, on: loop) }
            } else {
                startConnect(to: peer, type: type, promise: promise, on: loop)
            }
            if type == .control {
                // As socklnd does, bring up the bulk connection with the control one, so a
                // peer without an acceptor can still push bulk data back to us.
                promise.futureResult.whenSuccess { _ in _ = self.connection(to: peer, type: .bulk) }
            }
            return promise.futureResult
        }
    }

    private func startConnect(to peer: ProcessID, type: LNetConnectionType,
                              promise: EventLoopPromise<LNetConnection>, on loop: EventLoop) {
        promise.futureResult.whenComplete { result in
            self.peers.withLock { peers in
                peers[peer]?.connecting[type] = nil
                if case .failure = result, var state = peers[peer] {
                    state.failures += 1
                    let delay = min(self.configuration.maxReconnectMilliseconds,
                                    self.configuration.minReconnectMilliseconds << min(state.failures - 1, 16))
                    state.nextAttempt = .now() + .milliseconds(delay)
                    peers[peer] = state
                }
            }
            if case .failure(let error) = result {
                CDEBUG(.net, "connect to \(peer) (\(type)) failed: \(error)")
            }
        }
        let configuration = configuration
        // One bootstrap per connection, so the read plan can be set as a bootstrap option.
        let plan = LNetReadPlan(pageAlignedBulk: configuration.pageAlignedBulk)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(configuration.connectTimeout))
            .channelOption(.recvAllocator, value: LNetFrameReadAllocator(plan: plan))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try self.addHandlers(to: channel, plan: plan,
                                         role: .active(peer: peer, type: type, established: promise))
                }
            }
        do {
            let local = try SocketAddress(ipAddress: nid.ipv4String, port: 0)
            let remote = try SocketAddress(ipAddress: peer.nid.ipv4String, port: configuration.acceptPort)
            bootstrap.bind(to: local).connect(to: remote).whenFailure { error in
                promise.fail(Self.lustreError(error, "connect to \(peer.nid) port \(configuration.acceptPort)"))
            }
        } catch {
            promise.fail(Self.lustreError(error, "connect to \(peer.nid)"))
        }
    }

    private func addHandlers(to channel: Channel, plan: LNetReadPlan, role: LNetConnectionHandler.Role) throws {
        guard !stopped.load(ordering: .relaxed) else {
            throw LustreError(errno: ESHUTDOWN, "LNet on \(nid) is shutting down")
        }
        let id = ObjectIdentifier(channel)
        channels.withLock { $0[id] = channel }
        channel.closeFuture.whenComplete { _ in _ = self.channels.withLock { $0.removeValue(forKey: id) } }
        let sync = channel.pipeline.syncOperations
        try sync.addHandler(IdleStateHandler(readTimeout: .seconds(configuration.peerTimeout),
                                             writeTimeout: .seconds(configuration.keepalive)))
        try sync.addHandler(LNetFrameDecoder(plan: plan))
        try sync.addHandler(LNetConnectionHandler(lnet: self, role: role))
    }

    private func startAcceptor() async throws(LustreError) {
        let configuration = configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let plan = LNetReadPlan(pageAlignedBulk: configuration.pageAlignedBulk)
                    try channel.syncOptions?.setOption(.recvAllocator, value: LNetFrameReadAllocator(plan: plan))
                    try self.addHandlers(to: channel, plan: plan, role: .passive)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: nid.ipv4String, port: configuration.acceptPort).get()
            listener.withLock { $0 = channel }
        } catch {
            throw Self.lustreError(error, "LNet acceptor on \(nid.ipv4String) port \(configuration.acceptPort)")
        }
    }

    // MARK: Connection life cycle (called by the handlers)

    func hello(type: LNetConnectionType, to peer: ProcessID) -> LNetHello {
        let known = peers.withLock { $0[peer]?.incarnation } ?? 0
        return LNetHello(connectionType: type, source: processID, destinationNID: peer.nid,
                         destinationPID: peer.pid, sourceIncarnation: incarnation, destinationIncarnation: known)
    }

    func validate(_ hello: LNetHello, expected: ProcessID?) throws(LustreError) {
        guard hello.destinationNID == nid else {
            throw .protocolError("hello from \(hello.source) is for \(hello.destinationNID), this node is \(nid)")
        }
        if let expected, hello.source != expected {
            throw .protocolError("connected to \(expected) but \(hello.source) answered")
        }
        guard hello.source.nid.netType == .tcp else {
            throw .protocolError("hello from \(hello.source): only tcp peers connect")
        }
    }

    func register(channel: Channel, hello: LNetHello) -> LNetConnection {
        let connection = LNetConnection(channel: channel, type: hello.connectionType, peer: hello.source,
                                        peerIncarnation: hello.sourceIncarnation,
                                        credits: configuration.peerCredits, receiveLimit: configuration.receiveCredits)
        let (stale, restarted, first) = peers.withLock { peers -> ([LNetConnection], Bool, Bool) in
            var state = peers[hello.source] ?? PeerState()
            var stale: [LNetConnection] = []
            var restarted = false
            if let known = state.incarnation, known != hello.sourceIncarnation {
                stale = state.connections.values.flatMap { $0 }
                state.connections = [:]
                restarted = true
            }
            let first = state.connections.values.allSatisfy(\.isEmpty)
            state.incarnation = hello.sourceIncarnation
            state.connections[hello.connectionType, default: []].append(connection)
            state.failures = 0
            state.nextAttempt = .uptimeNanoseconds(0)
            peers[hello.source] = state
            return (stale, restarted, first)
        }
        if restarted {
            LCONSOLE("\(hello.source) restarted (incarnation \(hello.sourceIncarnation)): dropping its old state")
            for old in stale {
                old.closed()
                old.channel.close(promise: nil)
            }
            // Operations already sent to the old incarnation are lost; those
            // waiting for this very connection go out on it.
            failPending(sentOn: stale, LustreError(errno: ECONNRESET, "\(hello.source) restarted"))
            notify(.restarted(hello.source))
        }
        if first && !restarted {
            CDEBUG(.net, "connected to \(hello.source) (\(hello.connectionType))")
            notify(.connected(hello.source))
        }
        return connection
    }

    /// Frames written by senders' threads over the open connections: whole, and begun there
    /// but finished by the event loop (the socket was full).
    var directSends: (whole: Int, split: Int) {
        peers.withLock { peers in
            peers.values.flatMap { $0.connections.values.joined() }.reduce(into: (0, 0)) { sum, connection in
                sum.0 += connection.directFrames.load(ordering: .relaxed)
                sum.1 += connection.splitFrames.load(ordering: .relaxed)
            }
        }
    }

    func unregister(_ connection: LNetConnection) {
        connection.closed()
        let lastGone = peers.withLock { peers -> Bool in
            guard var state = peers[connection.peer] else { return false }
            state.connections[connection.type]?.removeAll { $0 === connection }
            peers[connection.peer] = state
            return state.connections.values.allSatisfy(\.isEmpty)
        }
        // Whatever was in flight on this connection may be lost: fail it now
        // rather than let callers wait for a transaction timeout.
        let error = LustreError(errno: ECONNRESET, "connection to \(connection.peer) lost")
        failPending(sentOn: [connection], error)
        if lastGone, !stopped.load(ordering: .relaxed) {
            CDEBUG(.net, "lost all connections to \(connection.peer)")
            notify(.down(connection.peer, error))
        }
    }

    // MARK: Receiving

    /// Handles one incoming message. Runs on the connection's event loop.
    func deliver(_ message: LNetMessage, on connection: LNetConnection?) {
        let header = message.header
        guard header.destination.nid == nid || header.destination.nid.netType == .lo,
              header.destination.pid == pid
        else {
            CNETERR("dropping \(header.type) from \(header.source) for \(header.destination): not this process")
            return
        }
        switch header.type {
        case .put:
            receivePut(message, on: connection)
        case .get:
            receiveGet(header)
        case .reply:
            let result: Result<ByteBuffer, Error> = header.flagsOrStatus < 0
                ? .failure(LustreError(status: header.flagsOrStatus, "GET from \(header.source)"))
                : .success(message.payload)
            completePending(header.cookie, result, from: header.source)
        case .ack:
            let result: Result<ByteBuffer, Error> = header.flagsOrStatus < 0
                ? .failure(LustreError(status: header.flagsOrStatus, "PUT to \(header.source)"))
                : .success(ByteBuffer())
            completePending(header.cookie, result, from: header.source)
        }
    }

    private func receivePut(_ message: LNetMessage, on connection: LNetConnection?) {
        let header = message.header
        var status: Int32 = 0
        let md = portals.withLock { $0.match(portal: header.portal, matchBits: header.matchBits, from: header.source) }
        switch md?.kind {
        case .sink(let maxLength, let handler):
            if message.payload.readableBytes <= maxLength {
                let release = connection?.takeReceiveCredit() ?? { @Sendable in }
                handler(LNetDelivery(initiator: header.source, matchBits: header.matchBits,
                                     headerData: header.headerData, payload: message.payload, release: release))
            } else {
                CNETERR("dropping PUT from \(header.source) portal \(header.portal) match \(header.matchBits): "
                        + "\(message.payload.readableBytes) bytes exceed the \(maxLength) the descriptor takes")
                status = -EMSGSIZE
            }
        case .source, nil:
            CDEBUG(.net, "dropping PUT from \(header.source) portal \(header.portal) match \(header.matchBits): no match")
            status = -ENOENT
        }
        if header.flagsOrStatus & LNetHeader.ackRequested != 0 {
            let ack = LNetHeader(type: .ack, source: processID, destination: header.source, portal: header.portal,
                                 flagsOrStatus: status, matchBits: header.matchBits, cookie: header.cookie,
                                 length: status == 0 ? header.payloadLength : 0)
            transmit(ack, payload: .none, to: header.source, completion: nil)
        }
    }

    private func receiveGet(_ header: LNetHeader) {
        let md = portals.withLock { $0.match(portal: header.portal, matchBits: header.matchBits, from: header.source) }
        var reply = LNetHeader(type: .reply, source: processID, destination: header.source, portal: header.portal,
                               matchBits: header.matchBits, cookie: header.cookie)
        guard case .source(let parts, let onGet) = md?.kind else {
            CDEBUG(.net, "GET from \(header.source) portal \(header.portal) match \(header.matchBits): no match")
            reply.flagsOrStatus = -ENOENT
            transmit(reply, payload: .none, to: header.source, completion: nil)
            return
        }
        let data = LNetPayload.prefix(of: parts, length: Int(header.length))
        reply.payloadLength = UInt32(data.readableBytes)
        var sent: EventLoopPromise<Void>?
        if let onGet {
            let initiator = header.source
            sent = group.any().makePromise(of: Void.self)
            sent?.futureResult.whenSuccess { onGet(initiator) }
        }
        transmit(reply, payload: data, to: header.source, completion: sent.map { .promise($0) })
    }

    private func attachPingResponder() {
        var info = ByteBufferAllocator().buffer(capacity: 32)
        info.writeInteger(Self.pingMagic, endianness: .little)
        info.writeInteger(pid, endianness: .little)
        info.writeInteger(UInt32(2), endianness: .little)
        info.writeInteger(NID.loopback.wire, endianness: .little)
        info.writeInteger(nid.wire, endianness: .little)
        _ = attach(portal: Self.pingPortal, matchBits: Self.pingMatchBits, md: .source(info, threshold: nil))
    }
}
