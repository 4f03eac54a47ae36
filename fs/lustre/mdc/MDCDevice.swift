import LNet
import LibCFS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The client of one MDT (`testfs-MDT0000-mdc-<instance>`): an import to the MDS and every
/// metadata operation as an async call. The caller's `MDTCredentials` ride in every request, so
/// the MDT checks permissions for the user who asked. Timeouts, lost connections and MDS
/// restarts are ridden through by the import: resend with the same xid, reconnect, and replay of
/// what the MDS executed but had not committed.
public final class MDCDevice: Sendable {
    /// Settings fixed when the device is set up.
    public struct Configuration: Sendable {
        /// How long a call keeps retrying through reconnects before it fails with ETIMEDOUT.
        public var recoveryTimeout: Double = 300
        /// Lower bound of the adaptive RPC timeout (`at_min`), seconds.
        public var minTimeout: Double = 5

        public init() {}
    }

    /// The target served at the other end.
    public let target: TargetName
    /// The MDS's NID.
    public let server: NID
    /// `testfs-MDT0000-mdc-<instance>`, the device name under `mdc.` in the parameter tree.
    public let name: String
    /// The import carrying every RPC.
    public let rpcImport: PtlRPCImport
    /// This device's row in `lctl dl`.
    private let obdDevice: ObdDeviceRegistration
    /// `rpc_stats`: modify RPCs in flight.
    let rpcStats = MDCRPCStats()
    /// Closes sent in the background, batched (`closeLater`).
    private let closeQueue = MDCCloseQueue()
    /// Set once the MDS refused a batch of closes: they go one RPC each from then on.
    private let closeBatchRefused = Atomic<Bool>(false)
    /// The files open through this device, opened again after an MDS restart.
    private let openHandles = MDCOpenHandles()
    /// The FIDs of the files this client creates, from sequences the MDS grants it.
    private let fids: MDCFIDClient

    /// The portals of the MDT service (the MDS listens on the same).
    public static let portals = PtlRPCService.Portals(request: Portal.mdsRequest, reply: Portal.mdcReply,
                                                      bulk: Portal.mdsBulk)

    /// A device for `target` on the MDS at `server`; nothing is sent until `connect()`.
    /// `instance` names this client in the device name (default: random hex).
    public init(lnet: LNetInstance, server: NID, target: TargetName, instance: String? = nil,
                configuration: Configuration = Configuration()) {
        self.target = target
        self.server = server
        self.name = "\(target)-mdc-\(instance ?? String(UInt64.random(in: 0x1000_0000_0000...0xffff_ffff_ffff), radix: 16))"
        var importConfiguration = PtlRPCImport.Configuration(portals: Self.portals, connectOpcode: Opcode.mdsConnect,
                                                             disconnectOpcode: Opcode.mdsDisconnect)
        importConfiguration.checksumType = nil
        importConfiguration.recoveryTimeout = configuration.recoveryTimeout
        importConfiguration.minTimeout = configuration.minTimeout
        importConfiguration.stats = PtlRPCClientStats(
            opcodes: MDTOpcode.allCases.sorted { $0.rawValue < $1.rawValue }.map { ($0.rawValue, $0.description) })
        let rpcImport = PtlRPCImport(lnet: lnet, target: ProcessID(nid: server), targetName: target.uuid,
                                     configuration: importConfiguration)
        self.rpcImport = rpcImport
        self.fids = MDCFIDClient { [rpcImport] () async throws(LustreError) -> MDTSequenceReply in
            let response = try await rpcImport.call(opcode: MDTOpcode.seqQuery.rawValue,
                                                    buffers: [MDTSeqQueryRequest(credentials: .root).encoded()])
            guard response.reply.status >= 0 else { throw LustreError(status: response.reply.status, "seq_query") }
            var buffer = try response.reply.buffer(0, "sequence")
            return try MDTSequenceReply(decoding: &buffer)
        }
        self.obdDevice = ObdDeviceRegistry.shared.register(type: "mdc", name: name, uuid: rpcImport.clientUUID)
        registerParameters()
        let openHandles = self.openHandles, name = self.name, fids = self.fids
        rpcImport.onRecovery { send in
            // The restarted MDS may be one restored from a backup older than this client's grant.
            fids.flush()
            await Self.reopen(openHandles, name: name, send: send)
        }
        rpcImport.reconnectWhenLost { openHandles.count > 0 }
    }

    deinit {
        obdDevice.unregister()
        _ = ParamTree.shared.unregister(prefix: "mdc.\(name)")
        _ = ParamTree.shared.unregister(prefix: "seq.cli-\(name)")
    }

    /// The sequence this client takes the FIDs of its new files from (0 before its first create).
    public var fidSequence: UInt64 { fids.sequence }

    private func registerParameters() {
        let prefix = "mdc.\(name)."
        let rpcImport = self.rpcImport
        do {
            try ParamTree.shared.register(prefix + "mds_conn_uuid", get: { "\(rpcImport.target.nid)" })
            try ParamTree.shared.register(prefix + "import_state", get: { rpcImport.status.rawValue })
            let name = self.name
            try ParamTree.shared.register(prefix + "import", get: { rpcImport.statusText(deviceName: name) })
            if let stats = rpcImport.configuration.stats {
                try ParamTree.shared.register(prefix + "stats", stats: stats.stats)
            }
            let rpcStats = self.rpcStats
            try ParamTree.shared.register(prefix + "rpc_stats", get: { rpcStats.format() }, set: { _ in rpcStats.clear() })
            // Lustre's FID client parameters: `lctl get_param seq.cli-*.fid`.
            let fids = self.fids
            try ParamTree.shared.register("seq.cli-\(name).fid", get: { "\(fids.lastFID)" })
            try ParamTree.shared.register("seq.cli-\(name).width", get: { "\(fids.width)" })
        } catch {
            CWARN("\(name): parameters not registered: \(error)")
        }
    }

    // MARK: Connection

    /// Connects to the MDT, failing with the server's answer (`-ENODEV` for a target it does
    /// not serve) instead of waiting for recovery.
    public func connect() async throws(LustreError) {
        try await rpcImport.connect()
    }

    /// Disconnects (the MDS closes what this client left open); waiting calls fail with `ESHUTDOWN`.
    public func disconnect() async {
        await flushCloses()
        await rpcImport.disconnect()
    }

    /// The highest transno the MDS has reported durable.
    public var lastCommitted: UInt64 { rpcImport.lastCommitted }

    // MARK: Namespace

    /// The FID of the filesystem's root directory.
    public func getRoot() async throws(LustreError) -> LustreFID {
        try await body(MDTGetRootRequest(credentials: Self.processCredentials)).attributes.fid
    }

    public func getattr(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> MDTAttributes {
        try await body(MDTGetattrRequest(credentials: credentials, fid: fid)).attributes
    }

    /// Looks `name` up in `parent`: its attributes and, for a regular file, its layout.
    public func lookup(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError)
        -> (MDTAttributes, LustreLayout?) {
        try Self.check(name)
        let reply = try await body(MDTLookupRequest(credentials: credentials, parent: parent, name: name))
        return (reply.attributes, reply.layout)
    }

    /// Looks several names up in `parent` with one `MDS_BATCH` RPC (statahead): each name's
    /// attributes and layout, or its error, in the order of `names`. Throws only when the batch
    /// as a whole fails (`EOPNOTSUPP` from an MDS without batches, a lost connection).
    public func lookup(parent: LustreFID, names: [String], credentials: MDTCredentials) async throws(LustreError)
        -> [Result<(MDTAttributes, LustreLayout?), LustreError>] {
        var results = [Result<(MDTAttributes, LustreLayout?), LustreError>?](repeating: nil, count: names.count)
        var items: [MDTBatchRequest.Item] = []
        var sent: [Int] = []
        for (index, name) in names.enumerated() {
            do throws(LustreError) {
                try Self.check(name)
                items.append(MDTBatchRequest.Item(MDTLookupRequest(credentials: credentials, parent: parent, name: name)))
                sent.append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        for start in stride(from: 0, to: items.count, by: MDTWireLimits.maxBatchItems) {
            let chunk = start..<min(items.count, start + MDTWireLimits.maxBatchItems)
            let request = MDTBatchRequest(items: Array(items[chunk]))
            let response = try await rpcImport.call(opcode: MDTOpcode.batch.rawValue, buffers: [request.encoded()])
            guard response.reply.status >= 0 else { throw LustreError(status: response.reply.status, "\(name): mds_batch") }
            let reply = try MDTBatchReply(decoding: try response.reply.buffer(0, "batch reply"))
            guard reply.items.count == chunk.count else {
                throw .protocolError("\(name): mds_batch of \(chunk.count) lookups answered with \(reply.items.count)")
            }
            for (offset, item) in reply.items.enumerated() {
                let index = sent[chunk.lowerBound + offset]
                guard item.status >= 0 else {
                    results[index] = .failure(LustreError(status: item.status, "\(name): lookup \(names[index])"))
                    continue
                }
                do throws(LustreError) {
                    var buffer = item.buffer
                    let body = try MDTBodyReply(decoding: &buffer)
                    results[index] = .success((body.attributes, body.layout))
                } catch {
                    results[index] = .failure(error)
                }
            }
        }
        return results.map { $0! }
    }

    /// Creates a file, directory, symlink or node. `layout` carries requested stripe settings
    /// (nil: inherit); without `exclusive` an existing regular file is answered instead of EEXIST.
    public func create(parent: LustreFID, name: String, kind: MDTCreateKind, mode: UInt32, credentials: MDTCredentials,
                       layout: LustreLayout?, exclusive: Bool) async throws(LustreError) -> (MDTAttributes, LustreLayout?) {
        try Self.check(name)
        if case .symlink(let target) = kind, target.utf8.count > MDTCreateKind.maxSymlinkLength {
            throw LustreError(errno: ENAMETOOLONG, "symlink target of \(target.utf8.count) bytes")
        }
        let reply = try await create { fid throws(LustreError) in
            MDTCreateRequest(credentials: credentials, parent: parent, name: name, kind: kind, mode: mode, layout: layout,
                             exclusive: exclusive, fid: fid)
        }
        return (reply.attributes, reply.layout)
    }

    /// Creates a regular file and opens it in the same RPC (Lustre's open intent): its
    /// attributes, layout and open handle. `openFlags` as for `open` (no O_CREAT/O_EXCL).
    public func createOpen(parent: LustreFID, name: String, mode: UInt32, credentials: MDTCredentials,
                           layout: LustreLayout?, exclusive: Bool, openFlags: Int32) async throws(LustreError)
        -> (MDTAttributes, LustreLayout?, handle: UInt64) {
        try Self.check(name)
        let reply = try await create { fid throws(LustreError) in
            MDTCreateRequest(credentials: credentials, parent: parent, name: name, kind: .file, mode: mode, layout: layout,
                             exclusive: exclusive, openFlags: openFlags, fid: fid)
        }
        guard reply.handle != 0 else { throw .protocolError("\(name): create with open answered no open handle") }
        let handle = openHandles.add(fid: reply.attributes.fid, flags: openFlags, credentials: credentials,
                                     serverHandle: reply.handle)
        return (reply.attributes, reply.layout, handle)
    }

    /// Sends the create `request(fid)` makes with a FID of this client's sequence. Refused as
    /// invalid after that sequence was dropped (the MDS restarted meanwhile: one restored from an
    /// older backup never granted it), it is sent once more with a FID of the new sequence.
    private func create(_ request: (LustreFID?) throws(LustreError) -> MDTCreateRequest) async throws(LustreError)
        -> MDTBodyReply {
        let fid = try await fids.allocate()
        do {
            return try await create(try request(fid))
        } catch {
            guard error.errno == EINVAL, let fid, fids.wasFlushed(fid.sequence) else { throw error }
            CDEBUG(.ha, "\(name): \(fid) refused after a restart of the MDS: created again under a new sequence")
            return try await create(try request(try await fids.allocate()))
        }
    }

    /// Sends a create. When it is kept for replay and made a file with objects under this
    /// client's FID, the kept request is given the layout of the reply (Lustre's
    /// `mdc_replay_open`): an MDS that loses the create makes it again on the objects this client
    /// writes to (the MDS takes objects back only for a create it tells apart by its FID).
    private func create(_ request: MDTCreateRequest) async throws(LustreError) -> MDTBodyReply {
        let response = try await call(request)
        var buffer = try response.reply.buffer(0, "mdt_body")
        let reply = try MDTBodyReply(decoding: &buffer)
        if request.fid != nil, let layout = reply.layout, layout.isInstantiated,
           response.reply.transno > response.reply.lastCommitted {
            var kept = request
            kept.replayLayout = layout
            rpcImport.amendReplay(xid: response.reply.xid, buffers: [kept.encoded()])
        }
        return reply
    }

    public func unlink(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try Self.check(name)
        await flushCloses()
        _ = try await call(MDTUnlinkRequest(credentials: credentials, parent: parent, name: name))
    }

    public func rmdir(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try Self.check(name)
        await flushCloses()
        _ = try await call(MDTRmdirRequest(credentials: credentials, parent: parent, name: name))
    }

    /// `noReplace`: `EEXIST` if `newName` is there (`RENAME_NOREPLACE`).
    public func rename(from: LustreFID, name: String, to: LustreFID, newName: String, noReplace: Bool = false,
                       credentials: MDTCredentials) async throws(LustreError) {
        try Self.check(name)
        try Self.check(newName)
        await flushCloses()
        _ = try await call(MDTRenameRequest(credentials: credentials, from: from, name: name, to: to, newName: newName,
                                            noReplace: noReplace))
    }

    /// A new name for `fid`; returns its attributes (nlink raised).
    public func link(_ fid: LustreFID, parent: LustreFID, name: String, credentials: MDTCredentials)
        async throws(LustreError) -> MDTAttributes {
        try Self.check(name)
        return try await body(MDTLinkRequest(credentials: credentials, fid: fid, parent: parent, name: name)).attributes
    }

    public func readlink(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> String {
        try await text(MDTReadlinkRequest(credentials: credentials, fid: fid))
    }

    public func setattr(_ fid: LustreFID, _ change: MDTSetattr, credentials: MDTCredentials) async throws(LustreError)
        -> MDTAttributes {
        try await body(MDTSetattrRequest(credentials: credentials, fid: fid, change: change)).attributes
    }

    /// Up to `maxEntries` entries of directory `fid` after `cookie` (0: from the start).
    public func readdir(_ fid: LustreFID, cookie: UInt64, maxEntries: Int, credentials: MDTCredentials)
        async throws(LustreError) -> MDTDirPage {
        guard maxEntries > 0 else { throw .invalid("readdir of \(maxEntries) entries") }
        let count = UInt32(min(maxEntries, MDTWireLimits.maxDirEntries))
        let response = try await call(MDTReaddirRequest(credentials: credentials, fid: fid, cookie: cookie,
                                                        maxEntries: count))
        var buffer = try response.reply.buffer(0, "directory page")
        let page = try MDTDirPage(decoding: &buffer)
        guard page.entries.count <= Int(count) else {
            throw .protocolError("\(name): readdir answered \(page.entries.count) entries for \(count)")
        }
        return page
    }

    // MARK: Open files

    /// Opens `fid`: its attributes, its layout, and the handle to close it with.
    public func open(_ fid: LustreFID, flags: Int32, credentials: MDTCredentials) async throws(LustreError)
        -> (MDTAttributes, LustreLayout?, handle: UInt64) {
        let reply = try await body(MDTOpenRequest(credentials: credentials, fid: fid, flags: flags))
        let handle = openHandles.add(fid: fid, flags: flags, credentials: credentials, serverHandle: reply.handle)
        return (reply.attributes, reply.layout, handle)
    }

    /// Files open through this device (`open`, `createOpen`) and not yet closed.
    public var openCount: Int { openHandles.count }

    /// Closes `handle`, telling the MDT the size and blocks the client saw on the OSTs and the
    /// mtime of its last change. A close that meets an MDS restart goes again with the handle
    /// the open got when the MDC opened the file again.
    public func close(handle: UInt64, size: UInt64?, blocks: UInt64?, mtime: MDTTime? = nil) async throws(LustreError) {
        defer { openHandles.remove(handle) }
        guard var serverHandle = openHandles.serverHandle(handle) else {
            throw LustreError(errno: EBADF, "\(name): no open handle \(handle)")
        }
        while true {
            do throws(LustreError) {
                _ = try await call(MDTCloseRequest(credentials: Self.processCredentials, handle: serverHandle,
                                                   size: size, blocks: blocks, mtime: mtime))
                return
            } catch where error.errno == EBADF {
                guard let now = openHandles.serverHandle(handle), now != serverHandle, now != 0 else { throw error }
                serverHandle = now
            }
        }
    }

    /// Opens again, on an MDS that restarted, every file open here (`PtlRPCImport.onRecovery`).
    private static func reopen(_ openHandles: MDCOpenHandles, name: String, send: PtlRPCImport.RecoverySend) async {
        let opens = openHandles.all
        guard !opens.isEmpty else { return }
        var failed = 0
        for (handle, open) in opens {
            let request = MDTOpenRequest(credentials: open.credentials, fid: open.fid, flags: open.flags)
            do throws(LustreError) {
                let reply = try await send(MDTOpcode.reint.rawValue, [request.encoded()])
                guard reply.status >= 0 else { throw LustreError(status: reply.status, "open \(open.fid)") }
                var buffer = try reply.buffer(0, "mdt_body")
                openHandles.update(handle, serverHandle: try MDTBodyReply(decoding: &buffer).handle)
            } catch {
                failed += 1
                openHandles.update(handle, serverHandle: 0)
                CERROR("\(name): cannot open \(open.fid) again after the MDS restarted: \(error)")
            }
        }
        LCONSOLE("\(name): opened \(opens.count - failed) of \(opens.count) open files again")
    }

    /// Closes `handle`, with nothing else to tell the MDS, in the background: within a few
    /// milliseconds, in one `MDS_BATCH` with the other closes of that while (`MDCCloseQueue`).
    /// Unlink, rmdir, rename and disconnect send the waiting closes first.
    public func closeLater(handle: UInt64) {
        if closeBatchRefused.load(ordering: .relaxed) {
            Task { await closeNow([handle]) }
        } else {
            closeQueue.add(handle) { [weak self] handles in await self?.closeNow(handles) }
        }
    }

    /// Sends the closes waiting in the background now and waits for them.
    public func flushCloses() async {
        if !closeQueue.isEmpty { await closeQueue.flush { [weak self] handles in await self?.closeNow(handles) } }
    }

    /// Closes `opens`: one `MDS_BATCH` (one RPC each if the MDS refuses batches). Errors are
    /// logged. An open whose close met an MDS restart is closed again with the handle the MDC
    /// opened it again with.
    private func closeNow(_ opens: [UInt64]) async {
        var pending = opens.compactMap { open in openHandles.serverHandle(open).map { (open, $0) } }
        defer { for open in opens { openHandles.remove(open) } }
        for _ in 0..<2 where !pending.isEmpty {
            let sent = pending.filter { $0.1 != 0 }
            let statuses = await closeServerHandles(sent.map(\.1))
            // EBADF from a handle the MDC has since replaced: the MDS restarted in between.
            pending = zip(sent, statuses).compactMap { item, status in
                guard status == -EBADF, let now = openHandles.serverHandle(item.0), now != item.1 else { return nil }
                return (item.0, now)
            }
        }
    }

    /// Closes the MDS's `handles`; the status of each close (0 for those not sent: logged).
    private func closeServerHandles(_ handles: [UInt64]) async -> [Int32] {
        guard !handles.isEmpty else { return [] }
        if handles.count > 1 && !closeBatchRefused.load(ordering: .relaxed) {
            let request = MDTBatchRequest(items: handles.map {
                MDTBatchRequest.Item(MDTCloseRequest(credentials: Self.processCredentials, handle: $0, size: nil, blocks: nil))
            })
            rpcStats.started()
            defer { rpcStats.finished() }
            do throws(LustreError) {
                let response = try await rpcImport.call(opcode: MDTOpcode.batch.rawValue, buffers: [request.encoded()])
                guard response.reply.status >= 0 else { throw LustreError(status: response.reply.status, "\(name): mds_batch") }
                let reply = try MDTBatchReply(decoding: try response.reply.buffer(0, "batch reply"))
                for (handle, item) in zip(handles, reply.items) where item.status < 0 {
                    CDEBUG(.rpctrace, "\(name): close of handle \(handle): \(LustreError(status: item.status))")
                }
                return handles.indices.map { $0 < reply.items.count ? reply.items[$0].status : 0 }
            } catch where error.errno == EOPNOTSUPP {
                if !closeBatchRefused.exchange(true, ordering: .relaxed) {
                    CWARN("\(name): the MDS does not take batched closes (\(error)); closing one RPC each")
                }
            } catch {
                CDEBUG(.rpctrace, "\(name): batch of \(handles.count) closes failed: \(error)")
                return handles.map { _ in 0 }
            }
        }
        var statuses: [Int32] = []
        for handle in handles {
            do throws(LustreError) {
                _ = try await call(MDTCloseRequest(credentials: Self.processCredentials, handle: handle, size: nil,
                                                   blocks: nil))
                statuses.append(0)
            } catch {
                CDEBUG(.rpctrace, "\(name): close of handle \(handle): \(error)")
                statuses.append(-error.errno)
            }
        }
        return statuses
    }

    // MARK: Target

    /// Space and inodes of the MDT's volume; `timeout` (seconds) bounds the wait through
    /// reconnects, which is otherwise the import's recovery timeout.
    public func statfs(timeout: Double? = nil) async throws(LustreError) -> ObdStatfs {
        let response = try await call(MDTStatfsRequest(credentials: Self.processCredentials), recoveryTimeout: timeout)
        var buffer = try response.reply.buffer(0, "obd_statfs")
        return try ObdStatfs(decoding: &buffer)
    }

    /// Commits everything the MDT did so far; returns `lastCommitted` afterwards.
    @discardableResult
    public func sync() async throws(LustreError) -> UInt64 {
        _ = try await call(MDTSyncRequest(credentials: Self.processCredentials))
        return rpcImport.lastCommitted
    }

    // MARK: Extended attributes and layouts

    public func getxattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> [UInt8] {
        try Self.checkXattr(name)
        let response = try await call(MDTGetxattrRequest(credentials: credentials, fid: fid, name: name))
        var buffer = try response.reply.buffer(0, "xattr value")
        return try MDTXattrValueReply(decoding: &buffer).value
    }

    public func setxattr(_ fid: LustreFID, name: String, value: [UInt8], flags: Int32, credentials: MDTCredentials)
        async throws(LustreError) {
        try Self.checkXattr(name)
        guard value.count <= MDTWireLimits.maxXattrValueLength else {
            throw LustreError(errno: E2BIG, "xattr value of \(value.count) bytes (at most \(MDTWireLimits.maxXattrValueLength))")
        }
        _ = try await call(MDTSetxattrRequest(credentials: credentials, fid: fid, name: name, value: value, flags: flags))
    }

    public func listxattr(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> [String] {
        let response = try await call(MDTListxattrRequest(credentials: credentials, fid: fid))
        var buffer = try response.reply.buffer(0, "xattr names")
        return try MDTNameListReply(decoding: &buffer).names
    }

    public func removexattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try Self.checkXattr(name)
        _ = try await call(MDTRemovexattrRequest(credentials: credentials, fid: fid, name: name))
    }

    /// Sets a directory's default layout (`lfs setstripe DIR`) or an empty file's layout.
    public func setLayout(_ fid: LustreFID, _ layout: LustreLayout, credentials: MDTCredentials) async throws(LustreError) {
        try layout.validateSettings()
        _ = try await call(MDTSetLayoutRequest(credentials: credentials, fid: fid, layout: layout))
    }

    /// The path of `fid` relative to the filesystem root, without a leading '/'.
    public func fid2path(_ fid: LustreFID) async throws(LustreError) -> String {
        try await text(MDTFid2PathRequest(credentials: Self.processCredentials, fid: fid))
    }

    // MARK: Helpers

    /// The credentials of this process, for requests that have no caller (statfs, close).
    static var processCredentials: MDTCredentials { MDTCredentials(uid: getuid(), gid: getgid()) }

    private static func check(_ name: String) throws(LustreError) {
        guard name.utf8.count <= MDTWireLimits.maxNameLength else {
            throw LustreError(errno: ENAMETOOLONG, "name of \(name.utf8.count) bytes (at most \(MDTWireLimits.maxNameLength))")
        }
        guard !name.isEmpty else { throw .invalid("empty name") }
    }

    private static func checkXattr(_ name: String) throws(LustreError) {
        guard name.utf8.count <= MDTWireLimits.maxXattrNameLength else {
            throw LustreError(errno: ERANGE, "xattr name of \(name.utf8.count) bytes")
        }
        guard !name.isEmpty else { throw .invalid("empty xattr name") }
    }

    /// Requests that change the namespace or an inode, counted in `rpc_stats` as Lustre's
    /// modify RPCs.
    private static let modifyOpcodes: Set<MDTOpcode> = [.reint, .close, .setxattr, .removexattr, .setLayout]

    private func call<R: MDTRequestRecord>(_ record: R, recoveryTimeout: Double? = nil) async throws(LustreError)
        -> PtlRPCImport.Response {
        let isModify = Self.modifyOpcodes.contains(R.opcode)
        if isModify { rpcStats.started() }
        defer { if isModify { rpcStats.finished() } }
        let response = try await rpcImport.call(opcode: R.opcode.rawValue, buffers: [record.encoded()],
                                                recoveryTimeout: recoveryTimeout)
        guard response.reply.status >= 0 else {
            throw LustreError(status: response.reply.status, "\(name): \(R.reint.map(\.description) ?? R.opcode.description)")
        }
        return response
    }

    private func body<R: MDTRequestRecord>(_ record: R) async throws(LustreError) -> MDTBodyReply {
        let response = try await call(record)
        var buffer = try response.reply.buffer(0, "mdt_body")
        return try MDTBodyReply(decoding: &buffer)
    }

    private func text<R: MDTRequestRecord>(_ record: R) async throws(LustreError) -> String {
        let response = try await call(record)
        var buffer = try response.reply.buffer(0, "text")
        return try MDTTextReply(decoding: &buffer).text
    }
}
