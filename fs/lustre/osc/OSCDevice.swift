import Atomics
import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client of one OST (`testfs-OST0000-osc-<instance>`): an import to the OSS serving it and
/// every OST RPC as an async call. Reads and writes of any size are cut into RPCs of at most
/// `max_pages_per_rpc`, at most `max_rpcs_in_flight` of them out at once; timeouts, checksum
/// errors and OSS restarts are ridden through by resending and reconnecting.
public final class OSCDevice: Sendable {
    /// Settings fixed when the device is set up.
    public struct Configuration: Sendable {
        /// `max_rpcs_in_flight`, 1...256.
        public var maxRPCsInFlight = 8
        /// `max_pages_per_rpc` in 4 KiB pages, 1...1024 (1024 = 4 MiB).
        public var maxPagesPerRPC = 1024
        /// `short_io_bytes`, 0...65536: RPCs moving at most this much data carry it inside the
        /// request or reply instead of a bulk transfer (Lustre's default, 16 KiB).
        public var shortIOBytes = 16 << 10
        /// Bulk checksum algorithm, nil for none (`checksums=0`).
        public var checksumType: ChecksumType? = .crc32c
        /// How long a call keeps retrying through reconnects before it fails with ETIMEDOUT.
        public var recoveryTimeout: Double = 300
        /// Lower bound of the adaptive RPC timeout (`at_min`), seconds.
        public var minTimeout: Double = 5
        /// The device's type and uuid in `lctl dl`: `osc` with the import's client uuid by
        /// default; the MDT's OSP says `osp` and its LOD's uuid.
        public var obdType = "osc"
        /// See `obdType`; nil: the import's client uuid.
        public var obdUUID: String?
        /// The cache this device shares with the client's other OSCs, which bounds the write
        /// data pinned until commit; nil: unbounded (the MDT's OSP, tools).
        public var cache: OSCClientCache?
        /// Seconds without a write renewing it after which unused grant is let go
        /// (`OSCGrant.expiry`; tests shorten it).
        public var grantExpiry: Double = Double(OSCGrant.expiry) / 1e9
        /// Whether each connect asks the OST for grant, so that the first writes may be cached
        /// (a client's OSC); without, grant comes with the replies of writes only (the MDT's
        /// OSP, which writes no data, holds none).
        public var grantAtConnect = false
        /// `idle_timeout`: seconds without a request after which the import disconnects and
        /// the OST frees its export and grant, 0 never (the MDT's OSP, tools). A client's OSCs
        /// use Lustre's default, `defaultIdleTimeout`.
        public var idleTimeout = 0

        public init() {}
    }

    /// Bytes per page of `max_pages_per_rpc`.
    public static let pageSize = 4096
    /// Lustre's `idle_timeout` of a client's OSCs, seconds.
    public static let defaultIdleTimeout = 20
    /// Upper bound of `idle_timeout`, seconds (a day).
    public static let maxIdleTimeout = 86_400
    /// Upper bound of `short_io_bytes` (Lustre's `OBD_MAX_SHORT_IO_BYTES`).
    public static let maxShortIOBytes = 64 << 10

    /// The target served at the other end.
    public let target: TargetName
    /// The OSS's NID.
    public let server: NID
    /// `testfs-OST0000-osc-<instance>`, the device name under `osc.` in the parameter tree.
    public let name: String
    /// `osc.<name>.max_rpcs_in_flight`.
    public let maxRPCsInFlight: Tunable<Int>
    /// `osc.<name>.max_pages_per_rpc`.
    public let maxPagesPerRPC: Tunable<Int>
    /// `osc.<name>.short_io_bytes`.
    public let shortIOBytes: Tunable<Int>
    /// `osc.<name>.idle_timeout`, seconds (0: never idle).
    public let idleTimeout: Tunable<Int>
    /// The import carrying every RPC.
    public let rpcImport: PtlRPCImport
    /// The space the OST reserved for this client's cached writes.
    public let grant: OSCGrant
    private let queue: OSCIOQueue
    private let cache: OSCClientCache?
    /// The `OST_SYNC` asked for by writers at the cache's bound, shared by all of them.
    private let commitTask = Mutex<Task<Void, Never>?>(nil)
    private let lnet: LNetInstance
    private let restarts = ManagedAtomic<UInt64>(0)
    private let observerToken: UInt64
    /// The device's row in `lctl dl` (`osc <name> <client uuid>`).
    private let obdDevice: ObdDeviceRegistration

    /// A device for `target` on the OSS at `server`; nothing is sent until `connect()`.
    /// `instance` names this client in the device name (default: random hex, as Lustre's
    /// superblock address).
    public init(lnet: LNetInstance, server: NID, target: TargetName, instance: String? = nil,
                configuration: Configuration = Configuration()) throws(LustreError) {
        guard (1...256).contains(configuration.maxRPCsInFlight) else {
            throw .invalid("max_rpcs_in_flight \(configuration.maxRPCsInFlight) out of 1...256")
        }
        guard (1...(OSTBRWLimits.maxBytes / Self.pageSize)).contains(configuration.maxPagesPerRPC) else {
            throw .invalid("max_pages_per_rpc \(configuration.maxPagesPerRPC) out of 1...\(OSTBRWLimits.maxBytes / Self.pageSize)")
        }
        self.lnet = lnet
        self.grant = OSCGrant(expiry: UInt64(max(0, configuration.grantExpiry) * 1e9))
        self.target = target
        self.server = server
        self.name = "\(target)-osc-\(instance ?? String(UInt64.random(in: 0x1000_0000_0000...0xffff_ffff_ffff), radix: 16))"
        let maxRPCs = Tunable(configuration.maxRPCsInFlight, range: 1...256)
        let maxPages = Tunable(configuration.maxPagesPerRPC, range: 1...(OSTBRWLimits.maxBytes / Self.pageSize))
        guard (0...Self.maxShortIOBytes).contains(configuration.shortIOBytes) else {
            throw .invalid("short_io_bytes \(configuration.shortIOBytes) out of 0...\(Self.maxShortIOBytes)")
        }
        self.maxRPCsInFlight = maxRPCs
        self.maxPagesPerRPC = maxPages
        let shortIO = Tunable(configuration.shortIOBytes, range: 0...Self.maxShortIOBytes)
        self.shortIOBytes = shortIO
        guard (0...Self.maxIdleTimeout).contains(configuration.idleTimeout) else {
            throw .invalid("idle_timeout \(configuration.idleTimeout) out of 0...\(Self.maxIdleTimeout)")
        }
        let idleTimeout = Tunable(configuration.idleTimeout, range: 0...Self.maxIdleTimeout)
        self.idleTimeout = idleTimeout
        var importConfiguration = PtlRPCImport.Configuration(
            portals: OSCDevice.portals, connectOpcode: Opcode.ostConnect, disconnectOpcode: Opcode.ostDisconnect)
        importConfiguration.checksumType = configuration.checksumType
        importConfiguration.recoveryTimeout = configuration.recoveryTimeout
        importConfiguration.minTimeout = configuration.minTimeout
        importConfiguration.shortIOBytes = shortIO
        let cache = configuration.cache
        self.cache = cache
        if let cache {
            importConfiguration.unstableObserver = { delta in cache.add(delta) }
        }
        importConfiguration.stats = PtlRPCClientStats(
            opcodes: OSTOpcode.allCases.sorted { $0.rawValue < $1.rawValue }.map { ($0.rawValue, $0.description) },
            bulkRead: OSTOpcode.read.rawValue, bulkWrite: OSTOpcode.write.rawValue)
        let rpcImport = PtlRPCImport(lnet: lnet, target: ProcessID(nid: server), targetName: target.uuid,
                                     configuration: importConfiguration)
        self.rpcImport = rpcImport
        let softSync: @Sendable () -> Bool = { [weak rpcImport] in
            guard let cache, let rpcImport else { return false }
            return cache.wantsSoftSync(deviceBytes: rpcImport.unstableBytes,
                                       windowBytes: maxPages.value * OSCDevice.pageSize * maxRPCs.value)
        }
        if configuration.grantAtConnect {
            rpcImport.onConnect(request: { [grant] in grant.request(fromGrant: 0).encoded() },
                                answer: { [grant, name] answer, sentAt in
                                    guard let answer else { return }
                                    do throws(LustreError) {
                                        grant.update(try OSTGrant.Reply(decoding: answer), sentAt: sentAt)
                                    } catch {
                                        CWARN("\(name): the OST's grant at connect: \(error)")
                                    }
                                })
        }
        // Idle only with nothing cached against grant; the grant goes with the export.
        rpcImport.idleDisconnect(timeout: { Double(idleTimeout.value) }, mayIdle: { [grant] in grant.releaseForIdle() })
        let sender = OSCBulkRPC(rpcImport: rpcImport, deviceName: name, softSync: softSync, grant: grant)
        self.queue = OSCIOQueue(maxRPCsInFlight: maxRPCs,
                                maxBytesPerRPC: { maxPages.value * OSCDevice.pageSize },
                                sender: { batch in await sender.send(batch) })
        let restarts = self.restarts
        let serverPID = ProcessID(nid: server)
        self.observerToken = lnet.addObserver { event in
            if case .restarted(let peer) = event, peer == serverPID {
                restarts.wrappingIncrement(ordering: .sequentiallyConsistent)
            }
        }
        self.obdDevice = ObdDeviceRegistry.shared.register(type: configuration.obdType, name: name,
                                                             uuid: configuration.obdUUID ?? rpcImport.clientUUID)
        registerParameters(checksumType: configuration.checksumType, obdType: configuration.obdType)
        cache?.register(self)
    }

    deinit {
        cache?.unregister(self)
        lnet.removeObserver(observerToken)
        obdDevice.unregister()
        _ = ParamTree.shared.unregister(prefix: "osc.\(name)")
    }

    /// The portals of the OST service (the OFD listens on the same).
    public static let portals = PtlRPCService.Portals(request: Portal.ostRequest, reply: Portal.oscReply,
                                                      bulk: Portal.ostBulk)

    private func registerParameters(checksumType: ChecksumType?, obdType: String) {
        let prefix = "osc.\(name)."
        do {
            try ParamTree.shared.register(prefix + "max_rpcs_in_flight", tunable: maxRPCsInFlight)
            try ParamTree.shared.register(prefix + "max_pages_per_rpc", tunable: maxPagesPerRPC)
            try ParamTree.shared.register(prefix + "short_io_bytes", tunable: shortIOBytes)
            // The MDT's OSP never goes idle (Lustre's has no idle_timeout).
            if obdType == "osc" { try ParamTree.shared.register(prefix + "idle_timeout", tunable: idleTimeout) }
            // The import's checksum settings are fixed when it is made, so these are read-only here.
            try ParamTree.shared.register(prefix + "checksums", get: { checksumType == nil ? "0" : "1" })
            try ParamTree.shared.register(prefix + "checksum_type",
                                          get: { ChecksumType.formatChoices(active: checksumType ?? .default) })
            let rpcImport = self.rpcImport
            try ParamTree.shared.register(prefix + "ost_conn_uuid", get: { "\(rpcImport.target.nid)" })
            try ParamTree.shared.register(prefix + "unstable_stats",
                                          get: { OSCClientCache.unstableStatsText(bytes: rpcImport.unstableBytes) })
            try ParamTree.shared.register(prefix + "import_state", get: { rpcImport.status.rawValue })
            let grant = self.grant
            try ParamTree.shared.register(prefix + "cur_grant_bytes", get: { "\(grant.available)" })
            let name = self.name
            try ParamTree.shared.register(prefix + "import", get: { rpcImport.statusText(deviceName: name) })
            if let stats = rpcImport.configuration.stats {
                try ParamTree.shared.register(prefix + "stats", stats: stats.stats)
            }
            let queue = self.queue
            try ParamTree.shared.register(prefix + "rpc_stats", get: { queue.rpcStatsText() },
                                          set: { _ in queue.rpcStats.clear() })
        } catch {
            CWARN("\(name): parameters not registered: \(error)")
        }
    }

    // MARK: Connection

    /// Connects to the target, failing with the server's answer (`-ENODEV` for a target it
    /// does not serve) instead of waiting for recovery.
    public func connect() async throws(LustreError) {
        try await rpcImport.connect()
    }

    /// Disconnects; calls still waiting fail with `ESHUTDOWN`.
    public func disconnect() async {
        await rpcImport.disconnect()
    }

    /// The highest transno the OSS has reported durable for this target.
    public var lastCommitted: UInt64 { rpcImport.lastCommitted }

    /// How many times the OSS has been seen restarting. Transnos from before a restart mean
    /// nothing to the new instance: what was not yet committed was replayed and got new ones.
    public var serverRestarts: UInt64 { restarts.load(ordering: .sequentiallyConsistent) }

    /// RPCs out now.
    public var rpcsInFlight: Int { queue.rpcsInFlight }

    // MARK: Objects

    /// Creates `count` objects at once in `sequence` and returns their ids.
    public func precreate(sequence: UInt64 = OSTObjectID.mdt0Sequence, count: Int) async throws(LustreError)
        -> ClosedRange<UInt64> {
        guard count > 0, count <= Int(OSTPrecreateCount.maximum) else {
            throw .invalid("precreate of \(count) objects (1...\(OSTPrecreateCount.maximum))")
        }
        var obdo = ObdAttributes()
        obdo.valid = [.groupID]
        obdo.id = OSTObjectID(sequence: sequence, objectID: 0)
        let response = try await call(.create, [Self.encode(obdo), OSTPrecreateCount(count: UInt32(count)).encoded()])
        var body = try response.reply.buffer(0, "obdo")
        let last = try ObdAttributes(decoding: &body).id.objectID
        var countBuffer = try response.reply.buffer(1, "precreate count")
        let made = UInt64(try OSTPrecreateCount(decoding: &countBuffer).count)
        guard made > 0, made <= last else { throw .protocolError("precreate answered \(made) objects ending at \(last)") }
        return (last - made + 1)...last
    }

    /// Creates the object `attributes.id` with what `attributes.valid` names; returns the transno.
    @discardableResult
    public func create(_ attributes: ObdAttributes) async throws(LustreError) -> UInt64 {
        try await call(.create, [Self.encode(attributes)]).reply.transno
    }

    /// Destroys an object; returns the transno.
    @discardableResult
    public func destroy(_ id: OSTObjectID) async throws(LustreError) -> UInt64 {
        try await call(.destroy, [Self.encode(Self.obdo(id))]).reply.transno
    }

    /// Destroys `ids` (at most `OSTDestroyBatch.maxObjects`) in one RPC: each object's status
    /// (0, or a negative errno such as -ENOENT for one already gone) and the transno covering
    /// them. A server without batches destroys the first only; the rest go one by one.
    public func destroy(_ ids: [OSTObjectID]) async throws(LustreError) -> (statuses: [Int32], transno: UInt64) {
        guard let first = ids.first else { return ([], 0) }
        guard ids.count <= OSTDestroyBatch.maxObjects else {
            throw .invalid("destroy of \(ids.count) objects in one RPC exceeds \(OSTDestroyBatch.maxObjects)")
        }
        if ids.count == 1 {
            do throws(LustreError) {
                return ([0], try await destroy(first))
            } catch where error.errno == ENOENT {
                return ([error.status], 0)
            }
        }
        let response = try await rpcImport.call(opcode: OSTOpcode.destroy.rawValue,
                                                 buffers: [Self.encode(Self.obdo(first)), OSTDestroyBatch.encodeRest(of: ids)])
        let reply = response.reply
        if reply.buffers.count > 1 {
            guard reply.status >= 0 else { throw LustreError(status: reply.status, "\(name): \(OSTOpcode.destroy)") }
            return (try OSTDestroyBatch.decode(statuses: reply.buffers[1], count: ids.count), reply.transno)
        }
        // An older server: it saw the first object only.
        var statuses = [reply.status]
        var transno = reply.transno
        for id in ids.dropFirst() {
            do throws(LustreError) {
                transno = max(transno, try await destroy(id))
                statuses.append(0)
            } catch where error.errno == ENOENT {
                statuses.append(error.status)
            }
        }
        return (statuses, transno)
    }

    /// The attributes of an object (size, blocks, times, owner, parent FID).
    public func getattr(_ id: OSTObjectID) async throws(LustreError) -> ObdAttributes {
        let response = try await call(.getattr, [Self.encode(Self.obdo(id))])
        var body = try response.reply.buffer(0, "obdo")
        return try ObdAttributes(decoding: &body)
    }

    /// Changes what `attributes.valid` names on object `attributes.id`; returns the transno.
    @discardableResult
    public func setattr(_ attributes: ObdAttributes) async throws(LustreError) -> UInt64 {
        try await call(.setattr, [Self.encode(attributes)]).reply.transno
    }

    /// Frees the bytes of `id` from `start` to `end` (the object's end by default); returns the transno.
    @discardableResult
    public func punch(_ id: OSTObjectID, start: UInt64, end: UInt64 = OSTBRWLimits.objectEOF) async throws(LustreError)
        -> UInt64 {
        var obdo = Self.obdo(id)
        obdo.valid.formUnion([.size, .blocks])
        obdo.size = start
        obdo.blocks = end
        return try await call(.punch, [Self.encode(obdo)]).reply.transno
    }

    /// Allocates the blocks of `id` from `start` to `end` (`OST_FALLOCATE`); the object grows to
    /// `end` unless `keepSize`. Returns the transno.
    @discardableResult
    public func fallocate(_ id: OSTObjectID, start: UInt64, end: UInt64, keepSize: Bool) async throws(LustreError) -> UInt64 {
        var obdo = Self.obdo(id)
        obdo.valid.formUnion([.size, .blocks, .flags])
        obdo.size = start
        obdo.blocks = end
        obdo.flags = UInt32(bitPattern: (keepSize ? FallocateMode.keepSize : []).rawValue)
        return try await call(.fallocate, [Self.encode(obdo)]).reply.transno
    }

    /// Space and inodes of the target; `timeout` (seconds) bounds the wait through reconnects,
    /// which is otherwise the import's recovery timeout.
    public func statfs(timeout: Double? = nil) async throws(LustreError) -> ObdStatfs {
        let response = try await call(.statfs, [], recoveryTimeout: timeout)
        var body = try response.reply.buffer(0, "obd_statfs")
        return try ObdStatfs(decoding: &body)
    }

    /// Makes everything the target did so far durable; returns `lastCommitted` afterwards.
    @discardableResult
    public func sync() async throws(LustreError) -> UInt64 {
        _ = try await call(.sync, [Self.encode(Self.obdo(OSTObjectID(objectID: 0)))])
        return rpcImport.lastCommitted
    }

    /// Asks the OST to commit (`OST_SYNC`) for writers waiting at the cache's bound; writers that
    /// come while one is out wait for that one.
    func commitUnstable() async {
        let task = commitTask.withLock { current -> Task<Void, Never> in
            if let current { return current }
            let task = Task { [self] in
                do throws(LustreError) {
                    try await sync()
                } catch {
                    CDEBUG(.rpctrace, "\(name): OST_SYNC for unstable pages failed: \(error)")
                }
                commitTask.withLock { $0 = nil }
            }
            current = task
            return task
        }
        await task.value
    }

    // MARK: Data

    /// Writes `data` to `object` at `offset` in RPCs of at most `max_pages_per_rpc`, and returns
    /// the highest transno among them: the write is durable once `lastCommitted` reaches it.
    ///
    /// The RPCs carry `jobID` (nil: the calling task's `PtlRPCJobID.current`); writes of different
    /// jobs never share an RPC.
    @discardableResult
    public func write(object: OSTObjectID, offset: UInt64, data: ByteBuffer,
                      jobID: String? = nil) async throws(LustreError) -> UInt64 {
        try await write(object: object, offset: offset, parts: [data], jobID: jobID)
    }

    /// Writes `parts` back to back at `offset` of `object` without copying them into one buffer:
    /// each part, cut at RPC boundaries, is an extent of its own, and extents that follow each
    /// other leave together in one RPC whose bulk is those buffers themselves. `fromGrant`: the
    /// bytes were cached against `grant` (taken from it when they were).
    @discardableResult
    public func write(object: OSTObjectID, offset: UInt64, parts: [ByteBuffer],
                      jobID: String? = nil, fromGrant: Bool = false) async throws(LustreError) -> UInt64 {
        if let cache, cache.isFull { await cache.throttle() }
        var pieces: [(offset: UInt64, length: Int, data: ByteBuffer?)] = []
        var position = offset
        for part in parts {
            for chunk in try split(offset: position, length: part.readableBytes) {
                pieces.append((chunk.offset, chunk.length,
                               part.getSlice(at: part.readerIndex + Int(chunk.offset - position), length: chunk.length)!))
            }
            position += UInt64(part.readableBytes)
        }
        let outcome = await queue.perform(.write, object: object, jobID: jobID ?? PtlRPCJobID.current,
                                          fromGrant: fromGrant, pieces: pieces)
        if let error = outcome.error { throw error }
        return outcome.transno
    }

    /// Reads up to `length` bytes of `object` at `offset`: fewer at the end of the object.
    /// The RPCs carry `jobID` (nil: the calling task's).
    public func read(object: OSTObjectID, offset: UInt64, length: Int,
                     jobID: String? = nil) async throws(LustreError) -> ByteBuffer {
        let pieces = try split(offset: offset, length: length).map { (offset: $0.offset, length: $0.length, data: ByteBuffer?.none) }
        let outcome = await queue.perform(.read, object: object, jobID: jobID ?? PtlRPCJobID.current, pieces: pieces)
        if let error = outcome.error { throw error }
        let parts = outcome.buffers.map { $0 ?? ByteBuffer() }
        if parts.count == 1 { return parts[0] }
        var result = ByteBufferAllocator().buffer(capacity: parts.reduce(0) { $0 + $1.readableBytes })
        for (part, piece) in zip(parts, pieces) {
            result.writeImmutableBuffer(part)
            // A short piece is the end of the object: nothing after it exists.
            if part.readableBytes < piece.length { break }
        }
        return result
    }

    /// Cuts `[offset, offset + length)` at multiples of the RPC size, so RPCs of a stream stay aligned.
    private func split(offset: UInt64, length: Int) throws(LustreError) -> [(offset: UInt64, length: Int)] {
        guard length >= 0 else { throw .invalid("negative I/O length \(length)") }
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        guard !overflow, end <= OSTBRWLimits.maxObjectSize else {
            throw LustreError(errno: EFBIG, "\(name): I/O at \(offset)+\(length) beyond the largest object")
        }
        let rpcBytes = UInt64(maxPagesPerRPC.value * Self.pageSize)
        var chunks: [(offset: UInt64, length: Int)] = []
        var position = offset
        while position < end {
            let boundary = (position / rpcBytes + 1) * rpcBytes
            let next = min(boundary, end)
            chunks.append((position, Int(next - position)))
            position = next
        }
        return chunks
    }

    // MARK: Helpers

    private func call(_ opcode: OSTOpcode, _ buffers: [ByteBuffer], recoveryTimeout: Double? = nil)
        async throws(LustreError) -> PtlRPCImport.Response {
        let response = try await rpcImport.call(opcode: opcode.rawValue, buffers: buffers, recoveryTimeout: recoveryTimeout)
        guard response.reply.status >= 0 else {
            throw LustreError(status: response.reply.status, "\(name): \(opcode)")
        }
        return response
    }

    /// The next data (`data`) or hole of object `id` at or after `offset` (`OST_SEEK`); nil when
    /// no data follows (`ENXIO`). The end of the object counts as a hole.
    public func seek(_ id: OSTObjectID, offset: UInt64, data: Bool) async throws(LustreError) -> UInt64? {
        var obdo = Self.obdo(id)
        obdo.valid.formUnion([.size, .mode])
        obdo.size = offset
        obdo.mode = UInt32(data ? SEEK_DATA : SEEK_HOLE)
        do throws(LustreError) {
            var body = try await call(.seek, [Self.encode(obdo)]).reply.buffer(0, "obdo")
            return try ObdAttributes(decoding: &body).size
        } catch where error.errno == ENXIO {
            return nil
        }
    }

    private static func obdo(_ id: OSTObjectID) -> ObdAttributes {
        var obdo = ObdAttributes()
        obdo.valid = [.id, .groupID]
        obdo.id = id
        return obdo
    }

    private static func encode(_ attributes: ObdAttributes) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: ObdAttributes.wireSize)
        attributes.encode(into: &buffer)
        return buffer
    }
}
