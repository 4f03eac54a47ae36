import LibCFS
import NIOCore
import OSD
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One OST served by this process (Lustre's obdfilter device): the OST RPCs turned into calls on
/// the target's `OSDDevice`, with the replies' transnos taken from the OSD. Its parameters:
/// `obdfilter.<target>.stats` (every request), `.brw_stats` (the OSD's bulk histograms),
/// `.readcache_max_io_mb` (also `osd-ldiskfs.<target>.readcache_max_io_mb`), `.job_stats` and
/// `.job_cleanup_interval` (per job id of the requests), `.num_exports`,
/// `.exports.<client NID>.uuid`/`.stats` while that client is connected, `.tot_granted`
/// (the space reserved for clients' cached writes, `OFDGrant`), and `.evict_client` (set by
/// `OFDService`).
public final class OFDTarget: Sendable {
    /// `testfs-OST0000`.
    public let name: TargetName
    /// The object store the target lives in.
    public let osd: OSDDevice
    /// `obdfilter.<target>.stats`.
    public let stats: LProcStats
    /// `obdfilter.<target>.job_stats`.
    public let jobStats: JobStats
    /// `obdfilter.<target>.exports.*` and `num_exports`.
    public let exports: ObdNIDStats
    /// `obdfilter.<target>`.
    private let device: String
    /// The target's row in `lctl dl` (`obdfilter testfs-OST0000 testfs-OST0000_UUID`).
    private let obdDevice: ObdDeviceRegistration
    /// `obdfilter.<target>.soft_sync_limit`: after this many writes marked `OBD_BRW_SOFT_SYNC`
    /// (a client pinning much uncommitted data) the target commits at once; 0 ignores the mark.
    public let softSyncLimit = Tunable(16, range: 0...Int(Int32.max))
    /// Marked writes since the last early commit, and whether one is running.
    private let softSyncs = Mutex<(count: Int, committing: Bool)>((0, false))
    /// The space reserved for clients' cached writes.
    let grant = OFDGrant()

    /// Serves `osd` as `name` and registers its stats in `ParamTree.shared`.
    public init(name: TargetName, osd: OSDDevice) {
        self.name = name
        self.osd = osd
        self.stats = OFDCounter.makeStats()
        self.jobStats = JobStats(OFDCounter.declarations)
        let device = "obdfilter.\(name)"
        self.device = device
        self.exports = ObdNIDStats(device: device, makeStats: OFDCounter.makeStats)
        self.obdDevice = ObdDeviceRegistry.shared.register(type: "obdfilter", name: "\(name)", uuid: name.uuid)
        let brwStats = osd.brwStats
        do {
            try ParamTree.shared.register("\(device).stats", stats: stats)
            try ParamTree.shared.register("\(device).brw_stats", get: { brwStats.format() }, set: { _ in brwStats.clear() })
            try ParamTree.shared.register("\(device).soft_sync_limit", tunable: softSyncLimit)
            try ParamTree.shared.register("\(device).tot_granted", get: { [grant] in "\(grant.totalGranted)" })
            // Lustre keeps it on the OSD and links it from obdfilter: both names work.
            try ParamTree.shared.register("osd-ldiskfs.\(name).readcache_max_io_mb", tunable: osd.readCacheMaxIOMB)
            try ParamTree.shared.register("\(device).readcache_max_io_mb", tunable: osd.readCacheMaxIOMB)
            try jobStats.register(device: device)
            try exports.register()
        } catch {
            // A second target of the same name in one process (tests): serving matters more than stats.
            CWARN("\(name): stats not registered: \(error)")
        }
    }

    /// Removes the target's parameters; the OSD is closed by whoever opened it.
    public func unregister() {
        ParamTree.shared.unregister("\(device).stats")
        ParamTree.shared.unregister("\(device).brw_stats")
        ParamTree.shared.unregister("\(device).soft_sync_limit")
        ParamTree.shared.unregister("\(device).tot_granted")
        ParamTree.shared.unregister("osd-ldiskfs.\(name).readcache_max_io_mb")
        ParamTree.shared.unregister("\(device).readcache_max_io_mb")
        jobStats.unregister(device: device)
        exports.unregister()
        obdDevice.unregister()
    }

    /// A client connected (or reconnected) to this target: its NID's stats start counting.
    func connected(_ export: PtlRPCExport) {
        export.nidStats = exports.connect(handle: export.handle, uuid: export.clientUUID, nid: "\(export.peer.nid)")
    }

    /// A (re)connect's grant request (`OSTGrant.Request`; nil from a client asking none, such
    /// as the MDT's OSP): the grant the client let go comes off, and its grant is topped up
    /// towards what it wants as after a write (Lustre's grant at connect, `ocd_grant`), so its
    /// first writes may be cached. A malformed request refuses the connect (`EPROTO`).
    func connectGrant(_ data: ByteBuffer?, export: PtlRPCExport) throws(LustreError) -> ByteBuffer? {
        guard let data else { return nil }
        // The service logs the refused connect with this error.
        let asked = try OSTGrant.Request(decoding: data)
        let granted = grant.connect(export: export.handle, wanted: asked.wanted, dropped: asked.dropped,
                                    now: MonotonicClock.nanoseconds()) { [osd] in try? osd.statfs() }
        return OSTGrant.Reply(granted: granted, epoch: grant.epoch(of: export.handle)).encoded()
    }

    /// The client's export is gone, and the grant it held.
    func disconnected(_ export: PtlRPCExport) {
        exports.disconnect(handle: export.handle)
        grant.discard(export: export.handle)
    }

    /// Counts one sample in the target's stats, the client NID's and the request's job's.
    private func account(_ counter: OFDCounter, _ value: Int64, _ request: PtlRPCRequest) {
        stats.record(counter, value)
        request.export.nidStats?.record(counter, value)
        jobStats.record(request.message.jobID, counter, value)
    }

    /// The highest transno the OSD has made durable.
    public var lastCommitted: UInt64 { osd.lastCommitted }

    /// Handles one OST request for this target; every failure becomes a reply status.
    func handle(_ request: PtlRPCRequest, opcode: OSTOpcode) async -> PtlRPCReply {
        let started = MonotonicClock.nanoseconds()
        do throws(LustreError) {
            let (reply, counter) = try await dispatch(request, opcode: opcode)
            if let counter { account(counter, Int64((MonotonicClock.nanoseconds() - started) / 1000), request) }
            return reply
        } catch {
            // The client hears the errno; what deserves the console (oversize BRWs) was said where it was found.
            CDEBUG(.rpctrace, "\(name): \(opcode) xid \(request.message.xid) from \(request.initiator) failed: \(error)")
            return .error(error)
        }
    }

    /// OST_DESTROY of one object, or of a batch (`OSTDestroyBatch`): each object's failure is
    /// its own status, and the transno is the last one the batch took.
    private func destroy(_ request: PtlRPCRequest, _ obdo: ObdAttributes) async throws(LustreError) -> PtlRPCReply {
        guard request.message.buffers.count > 1 else {
            let transno = try await osd.destroy(obdo.id)
            return PtlRPCReply(buffers: [Self.encode(obdo)], transno: transno)
        }
        let ids = try OSTDestroyBatch.decode(first: obdo.id, list: try request.message.buffer(1, "destroy list"))
        var statuses: [Int32] = []
        statuses.reserveCapacity(ids.count)
        var transno: UInt64 = 0
        for id in ids {
            do throws(LustreError) {
                transno = max(transno, try await osd.destroy(id))
                statuses.append(0)
            } catch {
                if error.errno != ENOENT { CDEBUG(.rpctrace, "\(name): destroy of \(id) failed: \(error)") }
                statuses.append(error.status)
            }
        }
        return PtlRPCReply(buffers: [Self.encode(obdo), OSTDestroyBatch.encode(statuses: statuses)], transno: transno)
    }

    private func dispatch(_ request: PtlRPCRequest, opcode: OSTOpcode) async throws(LustreError)
        -> (PtlRPCReply, OFDCounter?) {
        if opcode == .statfs {
            return (PtlRPCReply(buffers: [try statfs().encoded()]), .statfs)
        }
        var body = try request.message.buffer(0, "obdo")
        let obdo = try ObdAttributes(decoding: &body)
        switch opcode {
        case .getattr:
            var attributes = try await osd.getattr(obdo.id)
            attributes.id = obdo.id
            return (PtlRPCReply(buffers: [Self.encode(attributes)]), .getattr)
        case .setattr:
            let transno = try await osd.setattr(obdo.id, obdo)
            return (PtlRPCReply(buffers: [Self.encode(obdo)], transno: transno), .setattr)
        case .create:
            return (try await create(request, obdo), .create)
        case .destroy:
            return (try await destroy(request, obdo), .destroy)
        case .punch:
            // As Lustre: the range travels in o_size (start) and o_blocks (end, OBD_OBJECT_EOF for all).
            guard obdo.size <= obdo.blocks else {
                throw .invalid("punch of \(obdo.id) from \(obdo.size) to \(obdo.blocks)")
            }
            let transno = try await osd.punch(obdo.id, start: obdo.size, end: obdo.blocks)
            return (PtlRPCReply(buffers: [Self.encode(obdo)], transno: transno), .punch)
        case .fallocate:
            // As punch: the range in o_size (start) and o_blocks (end); the mode in o_flags.
            guard obdo.size < obdo.blocks else {
                throw .invalid("fallocate of \(obdo.id) from \(obdo.size) to \(obdo.blocks)")
            }
            let mode = FallocateMode(rawValue: Int32(bitPattern: obdo.flags))
            guard obdo.valid.contains(.flags), mode.isSubset(of: .keepSize) else {
                throw LustreError(errno: EOPNOTSUPP, "fallocate of \(obdo.id): mode 0x\(String(obdo.flags, radix: 16))")
            }
            let transno = try await osd.fallocate(obdo.id, start: obdo.size, end: obdo.blocks,
                                                  keepSize: mode.contains(.keepSize))
            return (PtlRPCReply(buffers: [Self.encode(obdo)], transno: transno), .fallocate)
        case .seek:
            // As Lustre's OST_SEEK: the offset in o_size, the whence in o_mode; the answer in
            // o_size, ENXIO when there is no data (SEEK_DATA) at or after the offset.
            guard obdo.valid.contains(.mode), obdo.mode == UInt32(SEEK_DATA) || obdo.mode == UInt32(SEEK_HOLE) else {
                throw .invalid("seek of \(obdo.id): whence \(obdo.mode)")
            }
            var answer = obdo
            answer.size = try osd.seek(obdo.id, offset: obdo.size, data: obdo.mode == UInt32(SEEK_DATA))
            answer.valid.insert(.size)
            return (PtlRPCReply(buffers: [Self.encode(answer)]), .seek)
        case .sync:
            _ = try await osd.sync()
            return (PtlRPCReply(buffers: [Self.encode(obdo)]), .sync)
        case .write:
            return (try await write(request, obdo), .write)
        case .read:
            return (try await read(request, obdo), .read)
        case .statfs, .connect, .disconnect, .ping:
            // statfs is answered above; the others never reach a target (PtlRPCService and OFDService take them).
            throw .notSupported("\(opcode) on a target")
        }
    }

    private func create(_ request: PtlRPCRequest, _ obdo: ObdAttributes) async throws(LustreError) -> PtlRPCReply {
        guard request.message.buffers.count > 1 else {
            let transno = try await osd.create(obdo.id, attributes: obdo)
            return PtlRPCReply(buffers: [Self.encode(obdo)], transno: transno)
        }
        var countBuffer = request.message.buffers[1]
        let wanted = try OSTPrecreateCount(decoding: &countBuffer).count
        guard wanted > 0, wanted <= OSTPrecreateCount.maximum else {
            throw .invalid("precreate of \(wanted) objects (1...\(OSTPrecreateCount.maximum))")
        }
        if FailLoc.checkValue(OFDFail.enospc, name.index) { throw LustreError(errno: ENOSPC, "fail_loc") }
        let made = try await osd.precreate(sequence: obdo.id.sequence, count: Int(wanted))
        var reply = ObdAttributes()
        reply.valid = [.id, .groupID]
        reply.id = OSTObjectID(sequence: obdo.id.sequence, objectID: made.upperBound)
        return PtlRPCReply(buffers: [Self.encode(reply), OSTPrecreateCount(count: UInt32(made.count)).encoded()])
    }

    /// Checks a BRW's pieces before anything is allocated for it: each non-empty, inside the
    /// largest object, all together within one RPC's bulk.
    private func pieces(of request: PtlRPCRequest, _ obdo: ObdAttributes) throws(LustreError) -> ([OSTNiobuf], Int) {
        let array = try request.message.buffer(1, "niobufs")
        let niobufs = try OSTNiobuf.decodeArray(array)
        var total = 0
        for niobuf in niobufs {
            guard niobuf.length > 0 else { throw .invalid("empty niobuf at \(niobuf.offset) of \(obdo.id)") }
            guard let end = niobuf.end, end <= OSTBRWLimits.maxObjectSize else {
                throw LustreError(errno: EFBIG, "\(obdo.id): I/O at \(niobuf.offset)+\(niobuf.length) beyond the "
                                  + "largest object (\(OSTBRWLimits.maxObjectSize) bytes)")
            }
            total += Int(niobuf.length)
        }
        guard total <= OSTBRWLimits.maxBytes else {
            CERROR("\(name): BRW of \(total) bytes on \(obdo.id) from \(request.initiator) exceeds the "
                   + "\(OSTBRWLimits.maxBytes)-byte cap: refused")
            throw .invalid("BRW of \(total) bytes exceeds \(OSTBRWLimits.maxBytes)")
        }
        return (niobufs, total)
    }

    private func write(_ request: PtlRPCRequest, _ obdo: ObdAttributes) async throws(LustreError) -> PtlRPCReply {
        let (niobufs, total) = try pieces(of: request, obdo)
        // A replay (the OSS restarted before committing it) was acknowledged already: it takes
        // no grant and is not held back by others' grant.
        let replay = request.message.flags.contains(.replay)
        let asked = replay ? nil : try Self.grantRequest(of: request)
        if FailLoc.check(OFDFail.brwWriteBulk) {
            CDEBUG(.rpctrace, "\(name): fail_loc drops the write bulk of xid \(request.message.xid)")
            return PtlRPCReply(status: -EAGAIN)
        }
        let export = request.export.handle
        // One GET for the whole RPC, sliced per piece: the bytes are never copied on the server.
        let data: ByteBuffer
        do {
            data = try await request.bulkGet(length: total)
        } catch {
            // EAGAIN (a bulk that did not come whole) is sent again as a new RPC with the same
            // grant; any other end is this write's, and its cached bytes are spent.
            if error.errno != EAGAIN, let asked {
                _ = grant.consume(asked.fromGrant, dropped: asked.dropped, export: export, now: MonotonicClock.nanoseconds())
            }
            throw error
        }
        var pieces: [(offset: UInt64, data: ByteBuffer)] = []
        pieces.reserveCapacity(niobufs.count)
        var cursor = data.readerIndex
        for niobuf in niobufs {
            pieces.append((niobuf.offset, data.getSlice(at: cursor, length: Int(niobuf.length))!))
            cursor += Int(niobuf.length)
        }
        let ioStarted = MonotonicClock.nanoseconds()
        // One statfs, taken with the write's admission, for the OSD's space check and the grant
        // given after the write.
        let pending = grant.admit(UInt64(total), fromGrant: asked?.fromGrant ?? 0, dropped: asked?.dropped ?? 0,
                                  replay: replay, export: export, now: ioStarted) { [osd] in try? osd.statfs() }
        let transno: UInt64
        do throws(LustreError) {
            if FailLoc.checkValue(OFDFail.enospc, name.index) { throw LustreError(errno: ENOSPC, "fail_loc") }
            if FailLoc.check(OFDFail.eio) { throw LustreError(errno: EIO, "fail_loc") }
            // A lone request may write on this thread (see `OSDDevice.write(mayBlock:)`).
            transno = try await osd.write(obdo.id, pieces: pieces, mayBlock: request.isAloneInService(),
                                          reserved: pending.reserved, volume: pending.volume)
        } catch {
            _ = grant.land(pending, export: export, wanted: nil, now: MonotonicClock.nanoseconds())
            throw error
        }
        let granted = grant.land(pending, export: export, wanted: asked?.wanted, now: MonotonicClock.nanoseconds())
        osd.brwStats.recordBulk(.write, pieces: niobufs.map { ($0.offset, UInt64($0.length)) },
                                milliseconds: (MonotonicClock.nanoseconds() - ioStarted) / 1_000_000)
        account(.writeBytes, Int64(total), request)
        if niobufs.contains(where: { $0.flags & OSTNiobuf.softSync != 0 }) { softSyncRequested() }
        var buffers = [Self.encode(obdo)]
        if asked != nil { buffers.append(OSTGrant.Reply(granted: granted, epoch: grant.epoch(of: export)).encoded()) }
        return PtlRPCReply(buffers: buffers, transno: transno)
    }

    /// The grant fields of a write (`OSTGrant.Request`), its third buffer; nil from a client
    /// that sends none. A write's data, when it rides in the request (short I/O), comes last.
    private static func grantRequest(of request: PtlRPCRequest) throws(LustreError) -> OSTGrant.Request? {
        let buffers = request.message.buffers.count - (request.message.flags.contains(.shortIO) ? 1 : 0)
        guard buffers > 2 else { return nil }
        return try OSTGrant.Request(decoding: request.message.buffers[2])
    }

    /// Counts a write marked `OBD_BRW_SOFT_SYNC`; at `soft_sync_limit` of them the OSD commits now,
    /// in the background (Lustre's `dt_commit_async`), unless an early commit is still running.
    private func softSyncRequested() {
        let limit = softSyncLimit.value
        guard limit > 0 else { return }
        let start = softSyncs.withLock { state -> Bool in
            state.count += 1
            guard state.count >= limit, !state.committing else { return false }
            state = (0, true)
            return true
        }
        guard start else { return }
        CDEBUG(.rpctrace, "\(name): \(limit) soft-sync writes: committing early")
        Task { [self] in
            do throws(LustreError) {
                _ = try await osd.sync()
            } catch {
                CWARN("\(name): early commit for soft-sync writes failed: \(error)")
            }
            softSyncs.withLock { $0.committing = false }
        }
    }

    private func read(_ request: PtlRPCRequest, _ obdo: ObdAttributes) async throws(LustreError) -> PtlRPCReply {
        let (niobufs, _) = try pieces(of: request, obdo)
        if FailLoc.check(OFDFail.brwReadBulk) {
            CDEBUG(.rpctrace, "\(name): fail_loc drops the read bulk of xid \(request.message.xid)")
            return PtlRPCReply(status: -EAGAIN)
        }
        if FailLoc.check(OFDFail.eio) { throw LustreError(errno: EIO, "fail_loc") }
        var counts: [UInt32] = []
        var parts: [ByteBuffer] = []
        counts.reserveCapacity(niobufs.count)
        parts.reserveCapacity(niobufs.count)
        let ioStarted = MonotonicClock.nanoseconds()
        // A lone request may wait for the disk on this thread (see `OSDDevice.read(mayBlock:)`).
        let mayBlock = request.isAloneInService()
        for niobuf in niobufs {
            var part = try await osd.read(obdo.id, offset: niobuf.offset, length: Int(niobuf.length), mayBlock: mayBlock)
            if part.readableBytes > Int(niobuf.length) { part = part.getSlice(at: part.readerIndex, length: Int(niobuf.length))! }
            counts.append(UInt32(part.readableBytes))
            parts.append(part)
        }
        osd.brwStats.recordBulk(.read, pieces: niobufs.map { ($0.offset, UInt64($0.length)) },
                                milliseconds: (MonotonicClock.nanoseconds() - ioStarted) / 1_000_000)
        let bulk: ByteBuffer
        if parts.count == 1 {
            bulk = parts[0]
        } else {
            // Several pieces travel in one PUT, so they are gathered once here.
            var gathered = ByteBufferAllocator().buffer(capacity: parts.reduce(0) { $0 + $1.readableBytes })
            for part in parts { gathered.writeImmutableBuffer(part) }
            bulk = gathered
        }
        var reply = PtlRPCReply(buffers: [Self.encode(obdo), OSTBRWReturnCodes(counts: counts).encoded()])
        // A short read's bytes go in the reply itself (short I/O), a longer one's by LNet PUT.
        try await request.bulkPut(bulk, into: &reply)
        account(.readBytes, Int64(bulk.readableBytes), request)
        return reply
    }

    private func statfs() throws(LustreError) -> ObdStatfs {
        let osdStatfs = try osd.statfs()
        var statfs = ObdStatfs()
        statfs.type = ObdStatfs.ext4Magic
        statfs.blocks = osdStatfs.blocks
        statfs.blocksFree = osdStatfs.blocksFree
        statfs.blocksAvailable = osdStatfs.blocksAvailable
        statfs.files = osdStatfs.files
        statfs.filesFree = osdStatfs.filesFree
        statfs.fsid = name.uuid
        statfs.blockSize = UInt32(clamping: osdStatfs.blockSize)
        statfs.nameLength = osdStatfs.nameLength
        statfs.maxBytes = OSTBRWLimits.maxObjectSize
        return statfs
    }

    static func encode(_ attributes: ObdAttributes) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: ObdAttributes.wireSize)
        attributes.encode(into: &buffer)
        return buffer
    }
}
