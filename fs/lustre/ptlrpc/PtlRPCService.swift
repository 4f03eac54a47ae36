import LNet
import LibCFS
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A request as a service handler sees it.
public struct PtlRPCRequest: Sendable {
    public let message: PtlRPCMessage
    /// The connected client it came from.
    public let export: PtlRPCExport
    /// The LNet process that sent it.
    public let initiator: ProcessID
    let lnet: LNetInstance
    let bulkPortal: UInt32
    /// Whether this request is, now, the only one in its service (no other waiting or being
    /// handled): a handler may then wait for the disk on its own thread, as nothing queues
    /// behind it, instead of handing the wait to an engine's threads and back.
    public let isAloneInService: @Sendable () -> Bool

    /// Pulls the client's bulk data (a write) with an LNet GET once the handler
    /// has room for it, and verifies the checksum the client sent. A mismatch
    /// is `EAGAIN`, which makes the client resend.
    public func bulkGet(length: Int) async throws(LustreError) -> ByteBuffer {
        guard length >= 0, length <= LNetLimits.maxPayload else {
            throw .invalid("bulk of \(length) bytes exceeds the \(LNetLimits.maxPayload) cap")
        }
        let data: ByteBuffer
        if message.flags.contains(.shortIO) {
            // Short I/O: the client sent the bytes as the request's last buffer.
            guard let inline = message.buffers.last else {
                throw LustreError(errno: EPROTO, "short I/O request xid \(message.xid) from \(initiator) has no data")
            }
            data = inline
        } else {
            do {
                data = try await lnet.get(from: initiator, portal: bulkPortal, matchBits: message.xid, length: length).get()
            } catch {
                throw LNetInstance.lustreError(error, "bulk GET from \(initiator) xid \(message.xid)")
            }
        }
        guard data.readableBytes == length else {
            throw LustreError(errno: EPROTO, "bulk GET from \(initiator) xid \(message.xid): "
                              + "\(data.readableBytes) of \(length) bytes")
        }
        if let type = BulkChecksum.type(of: message) {
            var sum = BulkChecksum.compute(type, data)
            if FailLoc.check(PtlRPCFail.checksumReceive) { sum ^= 1 }
            if sum != message.bulkChecksum {
                CERROR("BAD WRITE CHECKSUM: from \(initiator) xid \(message.xid): client 0x\(String(message.bulkChecksum, radix: 16)) "
                       + "!= server 0x\(String(sum, radix: 16)) (\(type.name)), \(length) bytes: asking for a resend")
                throw LustreError(errno: EAGAIN, "bulk checksum mismatch")
            }
        }
        return data
    }

    /// Pushes `data` to the client (a read) and returns the checksum to put in the reply.
    public func bulkPut(_ data: ByteBuffer) async throws(LustreError) -> (type: UInt32, checksum: UInt32) {
        let type = BulkChecksum.type(of: message)
        var sum = type.map { BulkChecksum.compute($0, data) } ?? 0
        if FailLoc.check(PtlRPCFail.checksumSend) { sum ^= 1 }
        do {
            try await lnet.put(to: initiator, portal: bulkPortal, matchBits: message.xid, payload: data).get()
        } catch {
            throw LNetInstance.lustreError(error, "bulk PUT to \(initiator) xid \(message.xid)")
        }
        return (type.map { BulkChecksum.wireValue($0) } ?? 0, sum)
    }

    /// Sends `data` to the client (a read) and puts its checksum in `reply`. When the client
    /// asked for short I/O the bytes go in the reply itself: no PUT, no wait for it, one
    /// message on the wire.
    public func bulkPut(_ data: ByteBuffer, into reply: inout PtlRPCReply) async throws(LustreError) {
        guard message.flags.contains(.shortIO) else {
            (reply.bulkChecksumType, reply.bulkChecksum) = try await bulkPut(data)
            return
        }
        let type = BulkChecksum.type(of: message)
        var sum = type.map { BulkChecksum.compute($0, data) } ?? 0
        if FailLoc.check(PtlRPCFail.checksumSend) { sum ^= 1 }
        reply.bulkChecksumType = type.map { BulkChecksum.wireValue($0) } ?? 0
        reply.bulkChecksum = sum
        reply.inlineBulk = data
    }
}

/// What a handler answers.
public struct PtlRPCReply: Sendable {
    public var status: Int32 = 0
    public var buffers: [ByteBuffer] = []
    public var transno: UInt64 = 0
    public var bulkChecksumType: UInt32 = 0
    public var bulkChecksum: UInt32 = 0
    /// A short read's data, sent as the reply's last buffer (`PtlRPCRequest.bulkPut(_:into:)`).
    public var inlineBulk: ByteBuffer?

    public init(status: Int32 = 0, buffers: [ByteBuffer] = [], transno: UInt64 = 0) {
        self.status = status
        self.buffers = buffers
        self.transno = transno
    }

    public static func error(_ error: LustreError) -> PtlRPCReply { PtlRPCReply(status: error.status) }
}

/// The service's side of a target: what to do with connects and requests.
public protocol PtlRPCHandler: Sendable {
    /// Accepts or refuses a client connecting to `target`; the default accepts.
    func connect(target: String, export: PtlRPCExport) throws(LustreError)
    /// The answer to what the client asked with its (re)connect, once `connect` accepted it:
    /// `data` is the request's third buffer (nil: none), the result goes back as the reply's
    /// second (Lustre's `obd_connect_data`, here only what a service needs: an OST's grant).
    /// Throwing refuses the connect. The default answers nothing.
    func connectData(_ data: ByteBuffer?, export: PtlRPCExport) throws(LustreError) -> ByteBuffer?
    /// Handles one request; unknown opcodes answer `-EOPNOTSUPP`.
    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply
    /// The highest transno known durable on the target `export` is connected
    /// to, sent in every reply to it (`last_committed`).
    func lastCommitted(for export: PtlRPCExport) -> UInt64
    /// The client of `export` disconnected (or was evicted): release what it held (open
    /// files, locks). Called once, after the export is gone from the service; the default
    /// does nothing.
    func disconnected(_ export: PtlRPCExport)
}

extension PtlRPCHandler {
    public func connect(target: String, export: PtlRPCExport) throws(LustreError) {}
    public func connectData(_ data: ByteBuffer?, export: PtlRPCExport) throws(LustreError) -> ByteBuffer? { nil }
    public func lastCommitted(for export: PtlRPCExport) -> UInt64 { 0 }
    public func disconnected(_ export: PtlRPCExport) {}
}

/// A PtlRPC service (`ptlrpc_service`): a request portal, a queue, a pool of
/// handler tasks, the exports of connected clients, and the replies.
public final class PtlRPCService: Sendable {
    public struct Portals: Sendable {
        public var request: UInt32
        public var reply: UInt32
        public var bulk: UInt32
        public init(request: UInt32, reply: UInt32, bulk: UInt32) {
            self.request = request
            self.reply = reply
            self.bulk = bulk
        }
    }

    public let name: String
    public let portals: Portals
    /// Distinguishes this start of the service: a client seeing a new instance knows the server restarted.
    public let instance: UInt64
    let lnet: LNetInstance
    let handler: any PtlRPCHandler
    let connectOpcode: UInt32
    let disconnectOpcode: UInt32
    let threads: Int
    /// What the connect reply says this service can do.
    let connectFlags: PtlRPCConnectFlags
    /// Largest request message accepted.
    static let maxRequestSize = 1 << 20

    private struct Exports {
        var byHandle: [UInt64: PtlRPCExport] = [:]
        var byUUID: [String: PtlRPCExport] = [:]
        var nextHandle: UInt64

        /// Forgets `export` (disconnect, eviction, a refused connect).
        mutating func remove(_ export: PtlRPCExport) {
            byHandle[export.handle] = nil
            byUUID[export.clientUUID] = nil
        }
    }

    private let exports: Mutex<Exports>
    private let queue = RequestQueue<LNetDelivery>()
    private let started = Mutex<(MDHandle?, [Task<Void, Never>])>((nil, []))
    private let evictor = Mutex<Task<Void, Never>?>(nil)

    public init(name: String, lnet: LNetInstance, portals: Portals, connectOpcode: UInt32, disconnectOpcode: UInt32,
                threads: Int = 8, connectFlags: PtlRPCConnectFlags = [], handler: any PtlRPCHandler) {
        self.name = name
        self.lnet = lnet
        self.portals = portals
        self.connectOpcode = connectOpcode
        self.disconnectOpcode = disconnectOpcode
        self.threads = threads
        self.connectFlags = connectFlags
        self.handler = handler
        self.instance = lnet.incarnation
        self.exports = Mutex(Exports(nextHandle: lnet.incarnation &* 0x9e37_79b9_7f4a_7c15 | 1))
    }

    /// Posts the request buffer and starts the handler tasks.
    public func start() {
        let handle = lnet.attach(portal: portals.request, matchBits: 0, ignoreBits: .max,
                                 md: .sink(maxLength: Self.maxRequestSize, threshold: nil) { [queue] delivery in
                                     queue.push(delivery)
                                 })
        let workers = (0..<threads).map { _ in
            Task { [self] in
                while let delivery = await queue.pop() {
                    await process(delivery)
                }
            }
        }
        started.withLock { $0 = (handle, workers) }
        evictor.withLock { $0 = Task { [weak self] in await self?.evictSilentClients() } }
    }

    /// Unlinks the request buffer and stops the handler tasks once the queue drains.
    public func stop() async {
        let (handle, workers) = started.withLock { value in
            defer { value = (nil, []) }
            return value
        }
        if let handle { lnet.unlink(handle) }
        queue.close()
        for worker in workers { await worker.value }
        evictor.withLock { $0 }?.cancel()
    }

    /// Evicts the clients not heard from for `ObdTimeout.evictionTimeout` (Lustre's ping
    /// evictor): what they held is released (`PtlRPCHandler.disconnected`). Checked every
    /// sixth of that, and at least every second (so that a shorter `timeout` set meanwhile
    /// counts at once); a client's pings keep its export. Silence is counted from the last
    /// change of the timeout at most: clients learn a shorter one only when it is set on their
    /// node too, and ping that much more often only from then on.
    private func evictSilentClients() async {
        var timeout = ObdTimeout.evictionTimeout
        var changed = MonotonicClock.nanoseconds()
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(Int(min(timeout * 1000 / 6, 1000))))
            if Task.isCancelled { return }
            let now = MonotonicClock.nanoseconds()
            if ObdTimeout.evictionTimeout != timeout {
                timeout = ObdTimeout.evictionTimeout
                changed = now
            }
            let limit = UInt64(timeout * 1e9)
            guard now &- changed > limit else { continue }
            let evicted = exports.withLock { exports -> [PtlRPCExport] in
                let silent = exports.byHandle.values.filter { $0.silence(now: now) > limit }
                for export in silent { exports.remove(export) }
                return silent
            }
            for export in evicted {
                LCONSOLE("\(name): haven't heard from client \(export.clientUUID) (at \(export.peer.nid)) in "
                         + "\(export.silence(now: now) / 1_000_000_000) seconds. I think it's dead, and I am evicting it.")
                handler.disconnected(export)
            }
        }
    }

    /// Connected clients now.
    public var exportCount: Int { exports.withLock { $0.byHandle.count } }

    /// Evicts the client `clientUUID` (`lctl set_param <target>.evict_client=UUID`): its export
    /// goes and the handler releases what it held; its next request finds its handle unknown
    /// (`-ENOTCONN`) and it connects again as a new client. False when no such client is connected.
    @discardableResult
    public func evict(clientUUID: String) -> Bool {
        guard let export = exports.withLock({ exports -> PtlRPCExport? in
            guard let export = exports.byUUID[clientUUID] else { return nil }
            exports.remove(export)
            return export
        }) else { return false }
        LCONSOLE("\(name): evicting client \(clientUUID) (at \(export.peer.nid)) by request")
        handler.disconnected(export)
        return true
    }

    /// Registers `parameter` (`obdfilter.<target>.evict_client`, `mdt.<target>.evict_client`):
    /// writing a connected client's UUID to it evicts that client (`evict(clientUUID:)`); an
    /// unknown UUID is `ENOENT`. Reading it gives nothing, as Lustre's.
    public func registerEvictClient(_ parameter: String) throws(LustreError) {
        try ParamTree.shared.register(parameter, get: { "" }, set: { [weak self] text in
            let uuid = text.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
            guard let self, self.evict(clientUUID: uuid) else {
                throw LustreError(errno: ENOENT, "no client \(uuid) connected")
            }
        })
    }

    private func process(_ delivery: LNetDelivery) async {
        defer { delivery.release() }
        let started = Self.now()
        let message: PtlRPCMessage
        do {
            message = try PtlRPCMessage(decoding: delivery.payload)
        } catch {
            CERROR("\(name): dropping malformed request from \(delivery.initiator): \(error)")
            return
        }
        if FailLoc.check(PtlRPCFail.dropRequest) {
            CDEBUG(.rpctrace, "\(name): fail_loc drops request xid \(message.xid) opcode \(message.opcode)")
            return
        }
        if message.opcode == connectOpcode {
            connect(message, from: delivery.initiator)
            return
        }
        guard let export = exports.withLock({ $0.byHandle[message.handle] }) else {
            CDEBUG(.rpctrace, "\(name): request xid \(message.xid) from \(delivery.initiator) with unknown handle: -ENOTCONN")
            send(PtlRPCReply(status: -ENOTCONN), to: message, initiator: delivery.initiator, export: nil, started: started)
            return
        }
        export.heard()
        if message.opcode == disconnectOpcode {
            exports.withLock { $0.remove(export) }
            handler.disconnected(export)
            send(PtlRPCReply(), to: message, initiator: delivery.initiator, export: nil, started: started)
            return
        }
        switch export.admit(xid: message.xid, lastXid: message.lastXid) {
        case .duplicate:
            CDEBUG(.rpctrace, "\(name): xid \(message.xid) resent while in progress: dropping the copy")
            return
        case .resend(let reply):
            CDEBUG(.rpctrace, "\(name): xid \(message.xid) resent: reconstructing the saved reply")
            lnet.putWithoutCompletion(to: delivery.initiator, portal: portals.reply, matchBits: message.xid,
                                      payload: reply)
            return
        case .handle:
            break
        }
        let request = PtlRPCRequest(message: message, export: export, initiator: delivery.initiator, lnet: lnet,
                                    bulkPortal: portals.bulk,
                                    isAloneInService: { [queue, threads] in queue.isAlone(handlers: threads) })
        let reply = await handler.handle(request)
        send(reply, to: message, initiator: delivery.initiator, export: export, started: started)
    }

    private func connect(_ message: PtlRPCMessage, from initiator: ProcessID) {
        let started = Self.now()
        do throws(LustreError) {
            let target = String(buffer: try message.buffer(0, "target UUID"))
            let clientUUID = String(buffer: try message.buffer(1, "client UUID"))
            guard !clientUUID.isEmpty, clientUUID.utf8.count <= 64, target.utf8.count <= 64 else {
                throw LustreError.invalid("connect with a bad target or client UUID")
            }
            let (export, reconnect) = exports.withLock { exports -> (PtlRPCExport, Bool) in
                if let export = exports.byUUID[clientUUID] {
                    export.heard()
                    export.reconnected(from: initiator, connectionCount: message.connectionCount)
                    return (export, true)
                }
                let export = PtlRPCExport(clientUUID: clientUUID, handle: exports.nextHandle, peer: initiator,
                                          connectionCount: message.connectionCount)
                exports.nextHandle &+= 1
                exports.byHandle[export.handle] = export
                exports.byUUID[clientUUID] = export
                return (export, false)
            }
            let answer: ByteBuffer?
            do throws(LustreError) {
                try handler.connect(target: target, export: export)
                do throws(LustreError) {
                    answer = try handler.connectData(message.buffers.count > 2 ? message.buffers[2] : nil, export: export)
                } catch {
                    if !reconnect { handler.disconnected(export) }
                    throw error
                }
            } catch {
                if !reconnect {
                    exports.withLock { $0.remove(export) }
                }
                throw error
            }
            CDEBUG(.ha, "\(name): \(reconnect ? "reconnect" : "connect") from \(clientUUID)@\(initiator) to \(target)")
            var body = ByteBuffer()
            body.writeInteger(instance, endianness: .little)
            body.writeInteger(connectFlags.rawValue, endianness: .little)
            send(PtlRPCReply(buffers: [body] + (answer.map { [$0] } ?? [])), to: message, initiator: initiator,
                 export: export, started: started)
        } catch {
            CWARN("\(name): refused connect from \(initiator): \(error)")
            send(.error(error), to: message, initiator: initiator, export: nil, started: started)
        }
    }

    private func send(_ reply: PtlRPCReply, to request: PtlRPCMessage, initiator: ProcessID, export: PtlRPCExport?,
                      started: UInt64) {
        var out = PtlRPCMessage(opcode: request.opcode, xid: request.xid, buffers: reply.buffers)
        if let inline = reply.inlineBulk {
            out.buffers.append(inline)
            out.flags.insert(.shortIO)
        }
        out.status = reply.status
        out.transno = reply.transno
        out.lastCommitted = export.map { handler.lastCommitted(for: $0) } ?? 0
        out.handle = export?.handle ?? 0
        out.bulkChecksumType = reply.bulkChecksumType
        out.bulkChecksum = reply.bulkChecksum
        out.serviceTime = UInt32(clamping: (Self.now() - started) / 1000)
        let encoded = out.encoded()
        if let export, request.opcode != connectOpcode {
            if reply.status == -EAGAIN {
                // "Try again" is not a result to reconstruct: the client sends anew.
                export.abandoned(xid: request.xid)
            } else {
                export.finished(xid: request.xid, reply: encoded)
            }
        }
        if FailLoc.check(PtlRPCFail.dropReply) {
            CDEBUG(.rpctrace, "\(name): fail_loc drops the reply to xid \(request.xid)")
            return
        }
        // Nobody waits for a reply to leave: no promise per request (LNet logs a failed send).
        // The only request in the service replies from this thread; replies of many are batched.
        lnet.putWithoutCompletion(to: initiator, portal: portals.reply, matchBits: request.xid, payload: encoded,
                                  alone: queue.isAlone(handlers: threads))
    }

    static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
