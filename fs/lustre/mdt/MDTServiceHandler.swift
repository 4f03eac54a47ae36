import LibCFS
import NIOCore
import ObdClass
import PtlRPC

#if canImport(Glibc)
import Glibc
#endif

/// Decodes each MDT request, calls the `MDTDevice`, and encodes the reply. Malformed requests
/// are answered with the decoder's error (EPROTO, EINVAL, ENAMETOOLONG...), unknown opcodes with
/// EOPNOTSUPP; neither disturbs other clients.
final class MDTRequestHandler: PtlRPCHandler {
    let device: MDTDevice
    let stats: LProcStats
    let jobStats: JobStats
    let exports: ObdNIDStats

    init(device: MDTDevice, stats: LProcStats, jobStats: JobStats, exports: ObdNIDStats) {
        self.device = device
        self.stats = stats
        self.jobStats = jobStats
        self.exports = exports
    }

    func connect(target: String, export: PtlRPCExport) throws(LustreError) {
        guard target == device.target.uuid || target == device.target.description else {
            throw LustreError(errno: ENODEV, "no target \(target) on this MDS (it serves \(device.target))")
        }
        export.nidStats = exports.connect(handle: export.handle, uuid: export.clientUUID, nid: "\(export.peer.nid)")
    }

    /// Counts one request's service time in md_stats, the client NID's stats and its job's.
    private func account(_ counter: MDTServiceCounter, since started: UInt64, _ request: PtlRPCRequest) {
        let usecs = Int64((MonotonicClock.nanoseconds() - started) / 1000)
        stats.record(counter, usecs)
        request.export.nidStats?.record(counter, usecs)
        jobStats.record(request.message.jobID, counter, usecs)
    }

    func lastCommitted(for export: PtlRPCExport) -> UInt64 { device.lastCommitted }

    /// The client is gone: close whatever it left open (Lustre's `mdt_export_cleanup`).
    func disconnected(_ export: PtlRPCExport) {
        exports.disconnect(handle: export.handle)
        let device = self.device
        let owner = export.handle
        Task { await device.closeAll(owner: owner) }
    }

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        guard let opcode = MDTOpcode(rawValue: request.message.opcode) else {
            CDEBUG(.rpctrace, "mdt: unsupported opcode \(request.message.opcode) from \(request.initiator)")
            return .error(.notSupported("MDT opcode \(request.message.opcode)"))
        }
        let message = request.message
        var ordered = false
        if message.flags.contains(.replay) {
            // Half the client's timeout at most, then it sends the replay again.
            switch await device.replayOrder.turn(message.transno, within: Double(message.timeout) / 2) {
            case .later:
                return PtlRPCReply(status: -EAGAIN)
            case .survived:
                device.recovery.withLock { $0.replayedRequests += 1 }
                CDEBUG(.ha, "mdt: replay of transno \(message.transno) (\(opcode)) already committed")
                return PtlRPCReply(transno: message.transno)
            case .now:
                device.recovery.withLock { $0.replayedRequests += 1 }
                ordered = message.transno != 0
            }
        }
        defer { if ordered { device.replayOrder.done(message.transno) } }
        let started = MonotonicClock.nanoseconds()
        var counter: MDTServiceCounter?
        do throws(LustreError) {
            let body = opcode == .ping ? ByteBuffer() : try request.message.buffer(0, "MDT request record")
            let reply = try await dispatch(opcode, body, request, counter: &counter)
            if let counter { account(counter, since: started, request) }
            return reply
        } catch {
            if let counter { account(counter, since: started, request) }
            CDEBUG(.rpctrace, "mdt: \(opcode) from \(request.initiator) failed: \(error)")
            return .error(error)
        }
    }

    private func dispatch(_ opcode: MDTOpcode, _ body: ByteBuffer, _ request: PtlRPCRequest,
                          counter: inout MDTServiceCounter?) async throws(LustreError) -> PtlRPCReply {
        let owner = request.export.handle
        switch opcode {
        case .ping:
            return PtlRPCReply()
        case .connect, .disconnect:
            throw .protocolError("\(opcode) outside the connection handshake")
        case .getRoot:
            _ = try MDTGetRootRequest(decodingRequest: body)
            return Self.reply(MDTBodyReply(attributes: try await device.getattr(device.rootFID)))
        case .getattr:
            counter = .getattr
            let record = try MDTGetattrRequest(decodingRequest: body)
            return Self.reply(MDTBodyReply(attributes: try await device.getattr(record.fid)))
        case .getattrName:
            counter = .getattr
            let record = try MDTLookupRequest(decodingRequest: body)
            let attributes = try await device.lookup(parent: record.parent, name: record.name,
                                                     credentials: record.credentials)
            let layout = attributes.isRegular ? try await device.layout(of: attributes.fid) : nil
            return Self.reply(MDTBodyReply(attributes: attributes, layout: layout))
        case .reint:
            return try await reint(body, owner: owner, replay: request.message.flags.contains(.replay), counter: &counter)
        case .batch:
            return PtlRPCReply(buffers: [try await batch(MDTBatchRequest(decoding: body), request).encoded()])
        case .close:
            counter = .close
            let record = try MDTCloseRequest(decodingRequest: body)
            let transno = try await device.close(handle: record.handle, size: record.size, blocks: record.blocks,
                                                 mtime: record.mtime, owner: owner)
            return PtlRPCReply(transno: transno)
        case .readdir:
            counter = .readpage
            let record = try MDTReaddirRequest(decodingRequest: body)
            var page = try await device.readdir(record.fid, cookie: record.cookie, maxEntries: Int(record.maxEntries),
                                                credentials: record.credentials)
            if page.entries.count > Int(record.maxEntries) {
                page = MDTDirPage(entries: Array(page.entries.prefix(Int(record.maxEntries))), end: false)
            }
            var buffer = ByteBuffer()
            page.encode(into: &buffer)
            return PtlRPCReply(buffers: [buffer])
        case .readlink:
            counter = .readlink
            let record = try MDTReadlinkRequest(decodingRequest: body)
            let target = try await device.readlink(record.fid, credentials: record.credentials)
            return PtlRPCReply(buffers: [MDTTextReply(text: target).encoded()])
        case .fid2path:
            let record = try MDTFid2PathRequest(decodingRequest: body)
            let path = try await device.fid2path(record.fid)
            guard path.utf8.count <= MDTWireLimits.maxPathLength else {
                throw LustreError(errno: ENAMETOOLONG, "path of \(record.fid) is \(path.utf8.count) bytes long")
            }
            return PtlRPCReply(buffers: [MDTTextReply(text: path).encoded()])
        case .statfs:
            counter = .statfs
            _ = try MDTStatfsRequest(decodingRequest: body)
            return PtlRPCReply(buffers: [try device.statfs().encoded()])
        case .sync:
            counter = .sync
            _ = try MDTSyncRequest(decodingRequest: body)
            _ = try await device.sync()
            return PtlRPCReply()
        case .seqQuery:
            _ = try MDTSeqQueryRequest(decodingRequest: body)
            let (sequence, width) = try device.grantSequence()
            CDEBUG(.info, "mdt: sequence 0x\(String(sequence, radix: 16)) granted to \(request.export.clientUUID)")
            return PtlRPCReply(buffers: [MDTSequenceReply(sequence: sequence, width: width).encoded()])
        case .getxattr:
            counter = .getxattr
            let record = try MDTGetxattrRequest(decodingRequest: body)
            let value = try await device.getxattr(record.fid, name: record.name, credentials: record.credentials)
            guard value.count <= MDTWireLimits.maxXattrValueLength else {
                throw LustreError(errno: E2BIG, "xattr \(record.name) of \(record.fid) holds \(value.count) bytes")
            }
            return PtlRPCReply(buffers: [MDTXattrValueReply(value: value).encoded()])
        case .setxattr:
            counter = .setxattr
            let record = try MDTSetxattrRequest(decodingRequest: body)
            let transno = try await device.setxattr(record.fid, name: record.name, value: record.value,
                                                    flags: record.flags, credentials: record.credentials)
            return PtlRPCReply(transno: transno)
        case .listxattr:
            counter = .getxattr
            let record = try MDTListxattrRequest(decodingRequest: body)
            let names = try await device.listxattr(record.fid, credentials: record.credentials)
            guard names.count <= MDTWireLimits.maxXattrNames else {
                throw LustreError(errno: E2BIG, "\(record.fid) has \(names.count) xattrs")
            }
            return PtlRPCReply(buffers: [MDTNameListReply(names: names).encoded()])
        case .removexattr:
            counter = .setxattr
            let record = try MDTRemovexattrRequest(decodingRequest: body)
            let transno = try await device.removexattr(record.fid, name: record.name, credentials: record.credentials)
            return PtlRPCReply(transno: transno)
        case .setLayout:
            counter = .setxattr
            let record = try MDTSetLayoutRequest(decodingRequest: body)
            try record.layout.validateSettings()
            let transno = try await device.setLayout(record.fid, record.layout, credentials: record.credentials)
            return PtlRPCReply(transno: transno)
        }
    }

    /// `MDS_BATCH`: each item is handled as its own RPC would be, one after the other, and
    /// answered with its own status; each counts in md_stats under its own operation. A batched
    /// close's transno (an orphan destroyed) is not reported: the batch is never replayed, and
    /// an MDS restart destroys what is left in `PENDING/` anyway.
    private func batch(_ batch: MDTBatchRequest, _ request: PtlRPCRequest) async -> MDTBatchReply {
        var reply = MDTBatchReply(items: [])
        reply.items.reserveCapacity(batch.items.count)
        for item in batch.items {
            let started = MonotonicClock.nanoseconds()
            var counter: MDTServiceCounter?
            do throws(LustreError) {
                if item.opcode == .close, case let close = try MDTCloseRequest(decodingRequest: item.record),
                   close.size != nil || close.mtime != nil {
                    throw LustreError(errno: EINVAL, "a close that sets the size or mtime needs its own RPC (a transno to replay)")
                }
                let answer = try await dispatch(item.opcode, item.record, request, counter: &counter)
                reply.items.append(MDTBatchReply.Item(status: answer.status, buffer: answer.buffers.first ?? ByteBuffer()))
            } catch {
                CDEBUG(.rpctrace, "mdt: batched \(item.opcode) from \(request.initiator) failed: \(error)")
                reply.items.append(MDTBatchReply.Item(status: error.status))
            }
            if let counter { account(counter, since: started, request) }
        }
        return reply
    }

    /// `MDS_REINT`: the sub-opcode picks the record.
    /// `replay`: sent again to this MDS after it restarted (`MSG_REPLAY`).
    private func reint(_ body: ByteBuffer, owner: UInt64, replay: Bool,
                       counter: inout MDTServiceCounter?) async throws(LustreError) -> PtlRPCReply {
        guard let raw = body.getInteger(at: body.readerIndex, endianness: .little, as: UInt32.self) else {
            throw .protocolError("reint record without a sub-opcode")
        }
        guard let sub = MDTReintOpcode(rawValue: raw) else { throw .notSupported("reint sub-opcode \(raw)") }
        switch sub {
        case .create:
            let record = try MDTCreateRequest(decodingRequest: body)
            counter = record.kind == .directory ? .mkdir : .mknod
            if let layout = record.layout { try layout.validateSettings() }
            let made = try await device.create(parent: record.parent, name: record.name, kind: record.kind,
                                               mode: record.mode, credentials: record.credentials,
                                               layout: record.layout, exclusive: record.exclusive, fid: record.fid,
                                               replayLayout: replay ? record.replayLayout : nil)
            // A create replayed after a restart makes the file only: the client opens again
            // every file it holds open once its replays are done (Lustre's open replay).
            if let openFlags = record.openFlags, !replay {
                // The open intent: the creator opens what it made; a file it just made opens with
                // the access asked for, one that was there is checked as any open.
                let opened = try await device.open(made.attributes.fid, flags: openFlags, credentials: record.credentials,
                                                   owner: owner, made: made.created ? made.attributes : nil)
                return Self.reply(MDTBodyReply(attributes: opened.0, layout: opened.1, handle: opened.handle),
                                  transno: made.transno)
            }
            return Self.reply(MDTBodyReply(attributes: made.attributes, layout: made.layout), transno: made.transno)
        case .open:
            counter = .open
            let record = try MDTOpenRequest(decodingRequest: body)
            let opened = try await device.open(record.fid, flags: record.flags, credentials: record.credentials,
                                               owner: owner, again: replay)
            return Self.reply(MDTBodyReply(attributes: opened.0, layout: opened.1, handle: opened.handle))
        case .unlink:
            counter = .unlink
            let record = try MDTUnlinkRequest(decodingRequest: body)
            return PtlRPCReply(transno: try await device.unlink(parent: record.parent, name: record.name,
                                                                credentials: record.credentials))
        case .rmentry:
            counter = .rmdir
            let record = try MDTRmdirRequest(decodingRequest: body)
            return PtlRPCReply(transno: try await device.rmdir(parent: record.parent, name: record.name,
                                                               credentials: record.credentials))
        case .rename:
            let record = try MDTRenameRequest(decodingRequest: body)
            counter = .rename
            let transno = try await device.rename(from: record.from, name: record.name, to: record.to,
                                                  newName: record.newName, noReplace: record.noReplace,
                                                  credentials: record.credentials)
            return PtlRPCReply(transno: transno)
        case .link:
            counter = .link
            let record = try MDTLinkRequest(decodingRequest: body)
            let (attributes, transno) = try await device.link(record.fid, parent: record.parent, name: record.name,
                                                              credentials: record.credentials)
            return Self.reply(MDTBodyReply(attributes: attributes), transno: transno)
        case .setattr:
            counter = .setattr
            let record = try MDTSetattrRequest(decodingRequest: body)
            let (attributes, transno) = try await device.setattr(record.fid, record.change,
                                                                 credentials: record.credentials)
            return Self.reply(MDTBodyReply(attributes: attributes), transno: transno)
        }
    }

    private static func reply(_ body: MDTBodyReply, transno: UInt64 = 0) -> PtlRPCReply {
        PtlRPCReply(buffers: [body.encoded()], transno: transno)
    }
}
