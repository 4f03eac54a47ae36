import LNet
import LOV
import LibCFS
import MDC
import NIOCore
import OSC
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A mounted Lustre filesystem as a library (Lustre's llite superblock, `ll_sb_info`, without
/// the VFS): the MGC that fetched the configuration, the MDC to the MDT, the LOV with one OSC
/// per OST, the open files and their caches, the tunables and stats. Benchmarks and
/// applications use it directly; mount.lustre puts FUSE in front of it.
///
/// ```swift
/// let client = try await LustreClient.mount(mgs: [try NID(parsing: "127.0.0.1@tcp")], fsname: "testfs")
/// let file = try await client.create(parent: client.rootFID, name: "f", mode: 0o644, credentials: .root)
/// try await file.write(offset: 0, data: buffer)
/// try await file.close()
/// try await client.unmount()
/// ```
public final class LustreClient: Sendable {
    public let fsname: String
    /// `<fsname>-<instance>`, the name under `llite.` in the parameter tree.
    public let name: String
    /// The instance part of device names.
    public let instance: String
    public let mdc: MDCDevice

    /// Where metadata requests that only wait for the MDS best run: the loop that reads its
    /// replies (they resume there, without a thread hand-off; `LNetTaskExecutor`).
    public var metadataTaskExecutor: LNetTaskExecutor { mdc.rpcImport.taskExecutor }
    public let lov: LOVDevice
    public let rootFID: LustreFID
    /// `llite.<name>.max_read_ahead_mb`.
    public let maxReadAheadMB: Tunable<Int>
    /// `llite.<name>.statahead_max`.
    public let statAheadMax: Tunable<Int>
    /// `llite.<name>.statahead_batch_max`.
    public let statAheadBatchMax: Tunable<Int>
    /// `llite.<name>.stats`.
    public let stats: LProcStats
    /// Shared by the OSCs: bounds the write data pinned until the OSTs commit it
    /// (`llite.<name>.max_cached_mb`, `unstable_stats`).
    public let cache: OSCClientCache

    let options: Options
    let inodes = LLiteInodeTable()
    let statahead: LLiteStatahead
    let labels: LLiteLabelCache
    let directoryNames: LLiteDirectoryNames
    let closedAttributes: LLiteClosedAttributes
    private let lnet: LNetInstance
    private let ownsLNet: Bool
    let mgc: MGCClient
    private struct State {
        var watch: Task<Void, Never>?
        /// Writes back data cached too long (`LLiteFlusher`).
        var flusher: Task<Void, Never>?
        var openFiles: [ObjectIdentifier: LustreFile] = [:]
        var configuration: FilesystemConfiguration
        var unmounted = false
    }
    private let state: Mutex<State>
    /// The `lov` and `llite` rows of `lctl dl` (the `mdc` and `osc` rows are their devices' own).
    private let obdDevices: [ObdDeviceRegistration]

    private init(fsname: String, instance: String, options: Options, lnet: LNetInstance, ownsLNet: Bool,
                 mgc: MGCClient, mdc: MDCDevice, lov: LOVDevice, rootFID: LustreFID,
                 configuration: FilesystemConfiguration) {
        self.fsname = fsname
        self.instance = instance
        self.name = "\(fsname)-\(instance)"
        self.options = options
        self.lnet = lnet
        self.ownsLNet = ownsLNet
        self.mgc = mgc
        self.mdc = mdc
        self.lov = lov
        self.rootFID = rootFID
        self.maxReadAheadMB = Tunable(min(max(options.maxReadAheadMB, 0), 65536), range: 0...65536, unit: .mebibytes)
        self.statAheadMax = Tunable(min(max(options.statAheadMax, 0), 8192), range: 0...8192)
        self.statAheadBatchMax = Tunable(min(max(options.statAheadBatchMax, 0), MDTWireLimits.maxBatchItems),
                                         range: 0...MDTWireLimits.maxBatchItems)
        let mdcImport = mdc.rpcImport
        self.statahead = LLiteStatahead(maximum: statAheadMax, batchMaximum: statAheadBatchMax,
                                        lifetime: options.statAheadLifetime,
                                        taskExecutor: { mdcImport.taskExecutor })
        self.labels = LLiteLabelCache(lifetime: options.attributeLifetime)
        self.directoryNames = LLiteDirectoryNames(lifetime: options.statAheadLifetime)
        self.closedAttributes = LLiteClosedAttributes(lifetime: options.statAheadLifetime)
        self.stats = LLiteStat.makeStats()
        self.cache = OSCClientCache(maxCachedMB: options.maxCachedMB)
        self.state = Mutex(State(configuration: configuration))
        self.obdDevices = [
            ObdDeviceRegistry.shared.register(type: "lov", name: lov.name, uuid: mdc.rpcImport.clientUUID),
            ObdDeviceRegistry.shared.register(type: "llite", name: "\(fsname)-\(instance)", uuid: mdc.rpcImport.clientUUID),
        ]
    }

    // MARK: Mount

    /// Mounts `mgs:/fsname`: fetches the configuration from the MGS, connects the MDC and one OSC
    /// per OST, and watches the configuration for OSTs added later. An unreachable MGS or target
    /// fails within `options.mountTimeout` (ETIMEDOUT or the connection error), an unknown
    /// filesystem with ENOENT.
    public static func mount(mgs: [NID], fsname: String, options: Options = .init()) async throws(LustreError)
        -> LustreClient {
        guard !mgs.isEmpty else { throw .invalid("mount needs at least one MGS NID") }
        guard !fsname.isEmpty, fsname.utf8.count <= TargetName.maxFsnameLength else {
            throw .invalid("bad filesystem name '\(fsname)'")
        }
        var adjusted = options
        adjusted.maxReadAheadMB = max(0, options.maxReadAheadMB)
        let checked = adjusted
        let lnet: LNetInstance
        let ownsLNet = options.lnet == nil
        if let given = options.lnet {
            lnet = given
        } else {
            var configuration = LNetConfiguration()
            configuration.acceptPort = options.acceptPort
            configuration.listen = false
            configuration.connectTimeout = Int64(max(1, min(options.mountTimeout, 5)))
            let local: NID
            if let given = options.localNID {
                local = given
            } else if mgs[0].address >> 24 == 127 {
                local = NID(address: 0x7f00_0001)
            } else {
                local = try LNetNetworks.localNIDs().first ?? mgs[0]
            }
            lnet = try await LNetInstance.start(nid: local, configuration: configuration)
        }
        do throws(LustreError) {
            return try await withDeadline(seconds: options.mountTimeout, "mount of \(fsname) from \(mgs)",
                                          late: { client in Task { try? await client.unmount() } }) { () async throws(LustreError) in
                try await setUp(mgs: mgs, fsname: fsname, options: checked, lnet: lnet, ownsLNet: ownsLNet)
            }
        } catch {
            if ownsLNet { await lnet.shutdown() }
            throw error
        }
    }

    private static func setUp(mgs: [NID], fsname: String, options: Options, lnet: LNetInstance,
                              ownsLNet: Bool) async throws(LustreError) -> LustreClient {
        // jobid_var and jobid_name exist before the configuration's `set_param -P` records apply.
        _ = JobIDPolicy.shared
        let instance = options.instance ?? String(UInt64.random(in: 0xffff_8000_0000_0000...0xffff_ffff_ffff_ffff), radix: 16)
        let mgc = MGCClient(lnet: lnet, nodes: mgs, recoveryTimeout: options.mountTimeout)
        let configuration: FilesystemConfiguration
        do {
            configuration = try await mgc.fetch(fsname: fsname)
        } catch {
            await mgc.disconnect()
            throw error.adding(context: "mount \(fsname): configuration from the MGS at \(mgs.map(\.description).joined(separator: ":"))")
        }
        guard let mdt = configuration.mdts.sorted(by: { $0.index < $1.index }).first else {
            await mgc.disconnect()
            throw LustreError(errno: ENODEV, "mount \(fsname): the configuration lists no MDT yet")
        }
        var mdcConfiguration = MDCDevice.Configuration()
        mdcConfiguration.recoveryTimeout = options.recoveryTimeout
        mdcConfiguration.minTimeout = options.minTimeout
        let mdc: MDCDevice
        let rootFID: LustreFID
        let lov = LOVDevice(name: "\(fsname)-clilov-\(instance)")
        do throws(LustreError) {
            mdc = MDCDevice(lnet: lnet, server: try firstNID(of: mdt), target: mdt.name, instance: instance,
                            configuration: mdcConfiguration)
            try await mdc.connect()
            rootFID = try await mdc.getRoot()
        } catch {
            await mgc.disconnect()
            throw error.adding(context: "mount \(fsname): \(mdt.name)")
        }
        let client = LustreClient(fsname: fsname, instance: instance, options: options, lnet: lnet, ownsLNet: ownsLNet,
                                  mgc: mgc, mdc: mdc, lov: lov, rootFID: rootFID, configuration: configuration)
        do throws(LustreError) {
            try await client.addOSCs(for: configuration.osts)
        } catch {
            await client.tearDown()
            throw error.adding(context: "mount \(fsname)")
        }
        client.registerParameters()
        options.onConfiguration?(configuration)
        let watch = mgc.watch(fsname: fsname, knownGeneration: configuration.generation) { [weak client] newer in
            guard let client else { return }
            Task { await client.apply(newer) }
        }
        let flusher = Task { [inodes = client.inodes, settings = options.writeback] in
            await LLiteFlusher.run(inodes: inodes, settings: settings)
        }
        client.state.withLock {
            $0.watch = watch
            $0.flusher = flusher
        }
        CDEBUG(.super, "\(client.name): mounted \(fsname) from \(mgs), root \(rootFID), \(configuration.osts.count) OSTs")
        return client
    }

    private static func firstNID(of entry: TargetEntry) throws(LustreError) -> NID {
        guard let text = entry.nids.first else { throw LustreError(errno: ENODEV, "\(entry.name) has no NID in the configuration") }
        return try NID(parsing: text)
    }

    /// Connects an OSC to each OST not set up yet, all at once.
    private func addOSCs(for osts: [TargetEntry]) async throws(LustreError) {
        var oscConfiguration = OSCDevice.Configuration()
        oscConfiguration.maxRPCsInFlight = options.maxRPCsInFlight
        oscConfiguration.maxPagesPerRPC = options.maxPagesPerRPC
        oscConfiguration.checksumType = options.checksums ? options.checksumType : nil
        oscConfiguration.recoveryTimeout = options.recoveryTimeout
        oscConfiguration.minTimeout = options.minTimeout
        oscConfiguration.cache = cache
        oscConfiguration.grantAtConnect = true
        oscConfiguration.idleTimeout = OSCDevice.defaultIdleTimeout
        let configuration = oscConfiguration
        let fresh = osts.filter { !lov.contains($0.index) }
        let made = try await withTypedTaskGroup(fresh) { [lnet, instance] (entry) async throws(LustreError) in
            let osc = try OSCDevice(lnet: lnet, server: try Self.firstNID(of: entry), target: entry.name, instance: instance,
                                    configuration: configuration)
            do throws(LustreError) {
                try await osc.connect()
            } catch {
                throw error.adding(context: "\(entry.name) at \(entry.nids.joined(separator: ","))")
            }
            return (entry.index, osc)
        }
        for (index, osc) in made where !lov.contains(index) {
            try lov.add(osc, index: index, maxDirtyMB: options.maxDirtyMB)
        }
    }

    /// A newer configuration from the MGS: OSCs for the OSTs it adds.
    private func apply(_ configuration: FilesystemConfiguration) async {
        let current = state.withLock { state -> Bool in
            guard !state.unmounted, configuration.generation > state.configuration.generation else { return false }
            state.configuration = configuration
            return true
        }
        guard current else { return }
        do throws(LustreError) {
            try await addOSCs(for: configuration.osts)
        } catch {
            CWARN("\(name): OSTs of configuration \(configuration.generation) not all connected: \(error)")
        }
        options.onConfiguration?(configuration)
    }

    private func registerParameters() {
        let prefix = "llite.\(name)."
        do {
            try ParamTree.shared.register(prefix + "max_read_ahead_mb", tunable: maxReadAheadMB)
            try ParamTree.shared.register(prefix + "statahead_max", tunable: statAheadMax)
            try ParamTree.shared.register(prefix + "statahead_batch_max", tunable: statAheadBatchMax)
            let statahead = self.statahead
            try ParamTree.shared.register(prefix + "statahead_stats", get: { statahead.statsText() })
            try ParamTree.shared.register(prefix + "stats", stats: stats)
            let cache = self.cache
            // Set as Lustre's: a number of MiB (a unit suffix allowed); read in Lustre's layout.
            try ParamTree.shared.register(prefix + "max_cached_mb", tunable: cache.maxCachedMB,
                                          get: { cache.maxCachedText() })
            try ParamTree.shared.register(prefix + "unstable_stats",
                                          get: { OSCClientCache.unstableStatsText(bytes: cache.unstableBytes, check: true) })
            let fsname = self.fsname
            try ParamTree.shared.register(prefix + "fstype", get: { "lustre" })
            try ParamTree.shared.register(prefix + "uuid", get: { "\(fsname)-clilmv-\(fsname)" })
        } catch {
            CWARN("\(name): parameters not registered: \(error)")
        }
    }

    /// Flushes every open file's cached writes, closes the files still open, disconnects the MDC
    /// and every OSC. The first flush or close error is thrown after everything is torn down.
    public func unmount() async throws(LustreError) {
        let files = state.withLock { state -> [LustreFile]? in
            guard !state.unmounted else { return nil }
            state.unmounted = true
            state.watch?.cancel()
            state.flusher?.cancel()
            return Array(state.openFiles.values)
        }
        guard let files else { return }
        var firstError: LustreError?
        for file in files {
            do throws(LustreError) { try await file.close() } catch { firstError = firstError ?? error }
        }
        for inode in inodes.all {
            do throws(LustreError) { try await inode.flush() } catch { firstError = firstError ?? error }
        }
        await tearDown()
        if let firstError { throw firstError }
    }

    private func tearDown() async {
        state.withLock {
            $0.watch?.cancel()
            $0.flusher?.cancel()
        }
        _ = ParamTree.shared.unregister(prefix: "llite.\(name)")
        for device in obdDevices { device.unregister() }
        await mdc.disconnect()
        for target in lov.removeAll() { await target.osc.disconnect() }
        await mgc.disconnect()
        if ownsLNet { await lnet.shutdown() }
    }

    // MARK: Open files

    func track(_ file: LustreFile) { state.withLock { $0.openFiles[ObjectIdentifier(file)] = file } }
    func untrack(_ file: LustreFile) { _ = state.withLock { $0.openFiles.removeValue(forKey: ObjectIdentifier(file)) } }

    /// Opens `fid` with `flags` (`O_RDONLY`, `O_WRONLY`, `O_RDWR`, `O_APPEND`, `O_TRUNC`).
    public func open(_ fid: LustreFID, flags: Int32, credentials: MDTCredentials) async throws(LustreError) -> LustreFile {
        try await stats.timed(.open) { () async throws(LustreError) in
            let (attributes, layout, handle) = try await mdc.open(fid, flags: flags, credentials: credentials)
            return try await makeFile(attributes: attributes, layout: layout, handle: handle, flags: flags, isNew: false)
        }
    }

    /// Creates a regular file in `parent` and opens it (`flags` adds to the access mode). `layout`
    /// asks for stripe settings (nil: the directory's default); without `exclusive` an existing
    /// file is opened instead of failing with EEXIST.
    public func create(parent: LustreFID, name: String, mode: UInt32, credentials: MDTCredentials,
                       layout: LustreLayout? = nil, exclusive: Bool = true,
                       flags: Int32 = O_RDWR) async throws(LustreError) -> LustreFile {
        try await namespaceChange(.create, adding: [(parent, name)]) { () async throws(LustreError) in
            try layout?.validateSettings()
            let (attributes, openedLayout, handle) = try await mdc.createOpen(
                parent: parent, name: name, mode: mode, credentials: credentials, layout: layout,
                exclusive: exclusive, openFlags: flags & ~(O_CREAT | O_EXCL))
            return try await makeFile(attributes: attributes, layout: openedLayout, handle: handle, flags: flags,
                                      isNew: exclusive)
        }
    }

    private func makeFile(attributes: MDTAttributes, layout: LustreLayout?, handle: UInt64, flags: Int32,
                          isNew: Bool) async throws(LustreError) -> LustreFile {
        let fid = attributes.fid
        let inode: LLiteInode
        do throws(LustreError) {
            inode = try inodes.open(fid) { () throws(LustreError) in
                let object = try layout.flatMap { layout throws(LustreError) in
                    layout.isInstantiated ? try LOVObject(layout: layout, device: lov) : nil
                }
                return LLiteInode(fid: fid, layout: layout, lov: object, size: attributes.size,
                                  onDirtyWait: { [weak inodes] index in inodes?.sendHeldBack(ostIndex: index) })
            }
        } catch {
            try? await mdc.close(handle: handle, size: nil, blocks: nil)
            throw error
        }
        let file = LustreFile(client: self, inode: inode, handle: handle, flags: flags, openAttributes: attributes)
        track(file)
        do throws(LustreError) {
            // The size is the OSTs': the MDS may not have heard the last close's yet. Also when
            // the file is open here already (close-to-open: another client may have closed since).
            if isNew {
                inode.created()
            } else if attributes.isRegular {
                _ = try await inode.glimpse()
            }
            if flags & O_TRUNC != 0 && flags & O_ACCMODE != O_RDONLY { try await inode.truncate(to: 0) }
        } catch {
            _ = try? await file.close()
            throw error
        }
        return file
    }

    // MARK: Attributes

    /// Attributes of `fid`; for a file open in this client, size, blocks and times merged from
    /// its OST objects and its cached writes.
    public func getattr(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> MDTAttributes {
        try await stats.timed(.getattr) { () async throws(LustreError) in
            let sent = MonotonicClock.nanoseconds()
            let glimpse = startGlimpse(fid)
            return try await merged(try await mdc.getattr(fid, credentials: credentials), sent: sent, glimpse: glimpse)
        }
    }

    /// The OST side of the attributes of a file open here: known from a recent glimpse, or
    /// asked now, beside the MDS request, instead of after it.
    private enum OpenFileGlimpse {
        case known(LOVAttributes)
        case asked(Task<LOVAttributes, any Error>)
    }

    /// For a file open here, the glimpse that `merged` needs (nil: not open here).
    private func startGlimpse(_ fid: LustreFID) -> OpenFileGlimpse? {
        guard let inode = inodes[fid] else { return nil }
        if let known = inode.recentGlimpse(within: options.attributeLifetime) { return .known(known) }
        return .asked(Task { try await inode.glimpse() })
    }

    /// `attributes` from the MDS as the VFS should see them: noted for `getxattr` of the label;
    /// for a file open here, with the OST objects' size and the time of this client's last change
    /// (the MDS hears it at close); for a file this client just closed, with what its close told
    /// the MDS if they may be older than that (`LLiteClosedAttributes`). `sent`: when the
    /// request that fetched them was sent (nil: unknown).
    /// `glimpse`: one `startGlimpse` began with the request (nil: glimpse now if needed).
    private func merged(_ attributes: MDTAttributes, sent: UInt64?,
                        glimpse: OpenFileGlimpse? = nil) async throws(LustreError) -> MDTAttributes {
        labels.note(attributes)
        guard attributes.isRegular else { return attributes }
        guard let inode = inodes[attributes.fid] else { return closedAttributes.corrected(attributes, sent: sent) }
        var result = attributes
        let objects: LOVAttributes
        switch glimpse ?? inode.recentGlimpse(within: options.attributeLifetime).map(OpenFileGlimpse.known) {
        case .known(let known):
            objects = known
        case .asked(let task):
            do {
                objects = try await task.value
            } catch {
                throw LNetInstance.lustreError(error, "glimpse of \(attributes.fid)")
            }
        case nil:
            objects = try await inode.glimpse()
        }
        result.size = objects.size
        result.blocks = objects.blocks
        // Not the OST objects' times: they keep the writes' times through a later utime (tar).
        if let modified = inode.modified {
            result.mtime = max(result.mtime, modified)
            result.ctime = max(result.ctime, modified)
        }
        return result
    }

    /// A namespace change of this client, counted under `stat` in `llite.*.stats`, that unbinds
    /// the names in `removing` and binds those in `adding`. What statahead looked up for them (and
    /// for `fid`) is dropped before it (results taken meanwhile would be older than the change)
    /// and after it (lookups sent while it was on the way may have seen the old state). The names
    /// known in their directories (`LLiteDirectoryNames`) follow once the MDS agrees; a failure
    /// may mean they were wrong (`EEXIST`, `ENOENT`), so it forgets them.
    private func namespaceChange<T>(_ stat: LLiteStat, removing: [(parent: LustreFID, name: String)] = [],
                                    adding: [(parent: LustreFID, name: String)] = [], fid: LustreFID? = nil,
                                    _ body: () async throws(LustreError) -> T) async throws(LustreError) -> T {
        let names = removing + adding
        statahead.forget(names, fid: fid)
        defer { statahead.forget(names, fid: fid) }
        do throws(LustreError) {
            let result = try await stats.timed(stat, body)
            for (parent, name) in removing { directoryNames.removed(name, from: parent) }
            for (parent, name) in adding { directoryNames.added(name, to: parent) }
            return result
        } catch {
            for (parent, _) in names { directoryNames.forget(parent) }
            throw error
        }
    }

    /// Lists `parent` again, whole, in the background, so its names are known for another
    /// lifetime (`LLiteDirectoryNames.wantsRefresh`).
    private func refreshNames(of parent: LustreFID, credentials: MDTCredentials) {
        let mdc = self.mdc, names = directoryNames
        Task(executorPreference: metadataTaskExecutor) {
            var cookie: UInt64 = 0
            do throws(LustreError) {
                names.beginListing(parent: parent, credentials: credentials, sent: MonotonicClock.nanoseconds())
                while true {
                    let page = try await mdc.readdir(parent, cookie: cookie, maxEntries: LLiteDirectoryNames.refreshPage,
                                                     credentials: credentials)
                    let next = page.entries.last?.cookie ?? cookie
                    names.listed(parent: parent, cookie: cookie, names: page.entries.map(\.name), next: next,
                                 end: page.end, credentials: credentials)
                    if page.end { return }
                    guard next != cookie else { throw LustreError(errno: EIO, "readdir of \(parent) did not advance") }
                    cookie = next
                }
            } catch {
                CDEBUG(.info, "names of \(parent) not listed again: \(error)")
                names.refreshFailed(parent: parent)
            }
        }
    }

    /// Names that count up in a directory, or follow its listing, are looked up ahead
    /// (`statahead_max`, `LLiteStatahead`), `statahead_batch_max` of them per `MDS_BATCH` RPC.
    /// A name this client knows is not in `parent` (`LLiteDirectoryNames`) is answered `ENOENT`
    /// at once.
    public func lookup(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> MDTAttributes {
        if directoryNames.isAbsent(parent: parent, name: name, credentials: credentials) {
            throw LustreError(errno: ENOENT, "\(name) in \(parent)")
        }
        if directoryNames.wantsRefresh(parent: parent, credentials: credentials) {
            refreshNames(of: parent, credentials: credentials)
        }
        let mdc = self.mdc
        let attributes = try await statahead.lookup(
            parent: parent, name: name, credentials: credentials,
            fetch: { (parent, name, credentials) async throws(LustreError) -> MDTAttributes in
                try await mdc.lookup(parent: parent, name: name, credentials: credentials).0
            },
            fetchBatch: { (parent, names, credentials) async throws(LustreError) -> [Result<MDTAttributes, LustreError>] in
                try await mdc.lookup(parent: parent, names: names, credentials: credentials).map { $0.map(\.0) }
            })
        // Statahead may have fetched them before this lookup came: when is not known.
        return try await merged(attributes, sent: nil)
    }

    /// Changes attributes; a size change truncates or extends the file on its OSTs (opening it
    /// for writing, so the caller needs write permission) and tells the MDS at close.
    public func setattr(_ fid: LustreFID, _ change: MDTSetattr, credentials: MDTCredentials) async throws(LustreError)
        -> MDTAttributes {
        try await namespaceChange(.setattr, fid: fid) { () async throws(LustreError) in
            if !change.valid.isDisjoint(with: [.mtime, .mtimeNow]) {
                // The changes before set no mtime at close any more, and a close on its way
                // with one must reach the MDS first.
                inodes[fid]?.timesSet()
                await closedAttributes.waitForClose(fid)
            }
            var rest = change
            if change.valid.contains(.size) {
                rest.valid.remove(.size)
                // The MDS never sees the size: a truncate by others than root asks it to drop
                // setuid and setgid, as the kernel does for a local file.
                if credentials.uid != 0 { rest.valid.insert(.killSUIDGID) }
                try await stats.timed(.truncate) { () async throws(LustreError) in
                    let file = try await open(fid, flags: O_WRONLY, credentials: credentials)
                    do throws(LustreError) {
                        try await file.truncate(change.size)
                    } catch {
                        _ = try? await file.close()
                        throw error
                    }
                    try await file.close()
                }
            }
            let sent = MonotonicClock.nanoseconds()
            let glimpse = startGlimpse(fid)
            if rest.valid.isEmpty {
                return try await merged(try await mdc.getattr(fid, credentials: credentials), sent: sent, glimpse: glimpse)
            }
            let attributes = try await mdc.setattr(fid, rest, credentials: credentials)
            closedAttributes.changed(attributes)
            return try await merged(attributes, sent: sent, glimpse: glimpse)
        }
    }

    // MARK: Namespace

    public func mkdir(parent: LustreFID, name: String, mode: UInt32, credentials: MDTCredentials) async throws(LustreError)
        -> MDTAttributes {
        try await namespaceChange(.mkdir, adding: [(parent, name)]) { () async throws(LustreError) in
            let sent = MonotonicClock.nanoseconds()
            let attributes = try await mdc.create(parent: parent, name: name, kind: .directory, mode: mode,
                                                  credentials: credentials, layout: nil, exclusive: true).0
            directoryNames.made(attributes.fid, credentials: credentials, sent: sent)
            return attributes
        }
    }

    /// A fifo, socket or device node (`mode` carries the type bits).
    public func mknod(parent: LustreFID, name: String, mode: UInt32, rdev: UInt32, credentials: MDTCredentials)
        async throws(LustreError) -> MDTAttributes {
        try await namespaceChange(.mknod, adding: [(parent, name)]) { () async throws(LustreError) in
            try await mdc.create(parent: parent, name: name, kind: .node(rdev: rdev), mode: mode,
                                 credentials: credentials, layout: nil, exclusive: true).0
        }
    }

    public func symlink(parent: LustreFID, name: String, target: String, credentials: MDTCredentials)
        async throws(LustreError) -> MDTAttributes {
        try await namespaceChange(.symlink, adding: [(parent, name)]) { () async throws(LustreError) in
            try await mdc.create(parent: parent, name: name, kind: .symlink(target: target), mode: 0o777,
                                 credentials: credentials, layout: nil, exclusive: true).0
        }
    }

    public func readlink(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> String {
        try await mdc.readlink(fid, credentials: credentials)
    }

    /// Removes a name; a file still open (here or elsewhere) stays readable until its last close.
    public func unlink(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try await namespaceChange(.unlink, removing: [(parent, name)]) { () async throws(LustreError) in
            try await mdc.unlink(parent: parent, name: name, credentials: credentials)
        }
    }

    public func rmdir(parent: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try await namespaceChange(.rmdir, removing: [(parent, name)]) { () async throws(LustreError) in
            try await mdc.rmdir(parent: parent, name: name, credentials: credentials)
        }
    }

    /// Renames `name` in `from` to `newName` in `to`; with `noReplace` (`RENAME_NOREPLACE`) an
    /// existing `newName` is `EEXIST`, decided by the MDS under its locks.
    public func rename(from: LustreFID, name: String, to: LustreFID, newName: String, noReplace: Bool = false,
                       credentials: MDTCredentials) async throws(LustreError) {
        try await namespaceChange(.rename, removing: [(from, name)], adding: [(to, newName)]) { () async throws(LustreError) in
            try await mdc.rename(from: from, name: name, to: to, newName: newName, noReplace: noReplace,
                                 credentials: credentials)
        }
    }

    public func link(_ fid: LustreFID, parent: LustreFID, name: String, credentials: MDTCredentials)
        async throws(LustreError) -> MDTAttributes {
        try await namespaceChange(.link, adding: [(parent, name)], fid: fid) { () async throws(LustreError) in
            let sent = MonotonicClock.nanoseconds()
            return try await merged(try await mdc.link(fid, parent: parent, name: name, credentials: credentials), sent: sent)
        }
    }

    /// Up to `maxEntries` entries of directory `fid` after `cookie` (0: from the start).
    public func readdir(_ fid: LustreFID, cookie: UInt64, maxEntries: Int, credentials: MDTCredentials)
        async throws(LustreError) -> MDTDirPage {
        if cookie == 0 {
            directoryNames.beginListing(parent: fid, credentials: credentials, sent: MonotonicClock.nanoseconds())
        }
        let page = try await stats.timed(.readdir) { () async throws(LustreError) in
            try await mdc.readdir(fid, cookie: cookie, maxEntries: maxEntries, credentials: credentials)
        }
        let names = page.entries.map(\.name)
        directoryNames.listed(parent: fid, cookie: cookie, names: names, next: page.entries.last?.cookie ?? cookie,
                              end: page.end, credentials: credentials)
        // Lookups that follow the listing (`ls -l`, `du`) are looked up ahead.
        statahead.noteListing(parent: fid, names: names, fromStart: cookie == 0)
        return page
    }

    /// The filesystem as `statfs(2)` sees it: space summed over the OSTs that answer (EIO when
    /// none does), inodes from the MDT, in the MDT's block size.
    public func statfs() async throws(LustreError) -> ObdStatfs {
        try await stats.timed(.statfs) { () async throws(LustreError) in
            let targets = await targetStatfs()
            guard var result = targets.first?.statfs else {
                throw LustreError.timedOut("statfs: \(mdc.target) did not answer")
            }
            let osts = targets.dropFirst()
            guard !osts.isEmpty else { return result }
            guard osts.contains(where: { $0.statfs != nil }) else { throw LustreError(errno: EIO, "statfs: no OST answered") }
            var blocks: UInt64 = 0, free: UInt64 = 0, available: UInt64 = 0
            let blockSize = UInt64(max(result.blockSize, 1))
            for case let (_, statfs?) in osts {
                let scale = UInt64(max(statfs.blockSize, 1))
                blocks += statfs.blocks * scale / blockSize
                free += statfs.blocksFree * scale / blockSize
                available += statfs.blocksAvailable * scale / blockSize
            }
            result.blocks = blocks
            result.blocksFree = free
            result.blocksAvailable = available
            result.fsid = fsname
            return result
        }
    }

    /// The filesystem's default layout, as the MGS gave it: what a file gets where no directory
    /// on its path has a default (`lfs getstripe -d` shows it for such a directory).
    public var filesystemDefaultLayout: LustreLayout { state.withLock { $0.configuration.defaultLayout } }

    /// How long a statfs waits for an OST before leaving it out (Lustre's `lazystatfs`): `df`
    /// answers with the OSTs that are up instead of waiting out the import's recovery.
    public static let lazyStatfsTimeout: Double = 5

    /// Statfs of each target, the MDT first then the OSTs by index, nil where it did not answer
    /// (for `lfs df` and `statfs(2)`), all asked at once. An OST gets `lazyStatfsTimeout`; the
    /// MDT, whose inode counts statfs cannot do without, as long as `mdtTimeout` (default: the
    /// import's recovery timeout).
    public func targetStatfs(mdtTimeout: Double? = nil) async -> [(name: TargetName, statfs: ObdStatfs?)] {
        let targets = lov.allTargets
        let mdc = self.mdc
        let answers = await withTaskGroup(of: (Int, ObdStatfs?).self) { group in
            group.addTask { (0, try? await mdc.statfs(timeout: mdtTimeout)) }
            for (position, target) in targets.enumerated() {
                group.addTask { (position + 1, try? await target.osc.statfs(timeout: Self.lazyStatfsTimeout)) }
            }
            var answers = [ObdStatfs?](repeating: nil, count: targets.count + 1)
            for await (position, statfs) in group { answers[position] = statfs }
            return answers
        }
        return [(mdc.target, answers[0])] + zip(targets, answers.dropFirst()).map { ($0.osc.target, $1) }
    }

    // MARK: Extended attributes and layouts

    /// An xattr of `fid`. The SELinux label of a file whose fresh attributes said it has none
    /// is `ENODATA` at once (`LLiteLabelCache`): `ls -l` asks it of every file.
    public func getxattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) -> [UInt8] {
        try await stats.timed(.getxattr) { () async throws(LustreError) in
            if name == MDTAttributeHints.selinuxLabelName, labels.isUnlabelled(fid) {
                throw LustreError(errno: ENODATA, "\(name) of \(fid)")
            }
            return try await mdc.getxattr(fid, name: name, credentials: credentials)
        }
    }

    public func setxattr(_ fid: LustreFID, name: String, value: [UInt8], flags: Int32, credentials: MDTCredentials)
        async throws(LustreError) {
        try await stats.timed(.setxattr) { () async throws(LustreError) in
            labels.forget(fid)
            defer { labels.forget(fid) }
            try await mdc.setxattr(fid, name: name, value: value, flags: flags, credentials: credentials)
        }
    }

    public func listxattr(_ fid: LustreFID, credentials: MDTCredentials) async throws(LustreError) -> [String] {
        try await stats.timed(.listxattr) { () async throws(LustreError) in
            try await mdc.listxattr(fid, credentials: credentials)
        }
    }

    public func removexattr(_ fid: LustreFID, name: String, credentials: MDTCredentials) async throws(LustreError) {
        try await stats.timed(.removexattr) { () async throws(LustreError) in
            labels.forget(fid)
            defer { labels.forget(fid) }
            try await mdc.removexattr(fid, name: name, credentials: credentials)
        }
    }

    /// Creates an empty file with `layout` (`lfs setstripe FILE`).
    public func setstripe(parent: LustreFID, name: String, layout: LustreLayout, mode: UInt32 = 0o644,
                          credentials: MDTCredentials) async throws(LustreError) -> MDTAttributes {
        try layout.validateSettings()
        return try await namespaceChange(.create, adding: [(parent, name)]) { () async throws(LustreError) in
            try await mdc.create(parent: parent, name: name, kind: .file, mode: mode, credentials: credentials,
                                 layout: layout, exclusive: true).0
        }
    }

    /// Sets a directory's default layout (`lfs setstripe DIR`).
    public func setDirectoryStripe(_ fid: LustreFID, layout: LustreLayout, credentials: MDTCredentials)
        async throws(LustreError) {
        try await mdc.setLayout(fid, layout, credentials: credentials)
    }

    /// A file's layout with its objects, or a directory's default; nil when a directory has none.
    public func getstripe(_ fid: LustreFID, credentials: MDTCredentials = .root) async throws(LustreError) -> LustreLayout? {
        let bytes: [UInt8]
        do throws(LustreError) {
            bytes = try await mdc.getxattr(fid, name: "lustre.lov", credentials: credentials)
        } catch {
            if error.errno == ENODATA { return nil }
            throw error
        }
        var buffer = ByteBuffer(bytes: bytes)
        return try LustreLayout(decoding: &buffer)
    }

    public func fid2path(_ fid: LustreFID) async throws(LustreError) -> String {
        try await mdc.fid2path(fid)
    }
}
