internal import CFuse3
import Glibc
import LibCFS
import Synchronization

/// A libfuse3 low-level session: created with a filesystem (`FuseOperations`), mounted, served by
/// libfuse's multi-threaded loop on OS threads of its own (never the Swift concurrency pool), and
/// ended by an unmount (`umount`, `fusermount3 -u`, or `unmount()`).
///
/// Lifecycle: `init` → `mount(at:)` → `run()` (returns when the mount is gone) → `close()`.
/// `initialized()` resumes once the kernel's INIT has been answered: from then on the mount serves.
public final class FuseLowLevelSession: @unchecked Sendable {
    /// argv for libfuse, in C strings we own: libfuse may keep pointers into them.
    private let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let argc: Int
    private var arguments: fuse_args
    private let session: OpaquePointer
    private let context: FuseSessionContext?
    private let contextPointer: UnsafeMutableRawPointer?
    private let state = Shared()

    /// The mutable part, shared with the INIT callback (a class, so the closure can hold it).
    private final class Shared: Sendable {
        let lock = Mutex(State())
        func withLock<R>(_ body: (inout State) -> R) -> R { lock.withLock { body(&$0) } }
    }

    private struct State {
        var mountpoint: String?
        var unmounted = false
        var initialized: FuseConnection?
        var loopEnded = false
        var waiters: [CheckedContinuation<FuseConnection?, Never>] = []
    }

    /// Creates a session.
    ///
    /// - Parameters:
    ///   - arguments: argv as for a FUSE program, program name first; mount options go in `-o`
    ///     (`allow_other`, `fsname=…`, `subtype=…`, `ro`, …) as libfuse parses them.
    ///   - operations: the filesystem; nil gives a table libfuse answers with `ENOSYS` (for tests).
    ///   - connection: what to ask of the kernel at INIT.
    public init(arguments: [String] = ["lustre"], operations: (any FuseOperations)? = nil,
                connection: FuseConnection = FuseConnection()) throws(LustreError) {
        argc = arguments.count
        argv = .allocate(capacity: argc + 1)
        for (i, argument) in arguments.enumerated() { argv[i] = strdup(argument) }
        argv[argc] = nil
        // FUSE_ARGS_INIT is a macro: build the struct by hand.
        self.arguments = fuse_args(argc: Int32(argc), argv: argv, allocated: 0)
        var created: OpaquePointer?
        if let operations {
            let state = self.state
            let context = FuseSessionContext(operations: operations, connection: connection) { granted in
                let waiters = state.withLock { state in
                    state.initialized = granted
                    defer { state.waiters = [] }
                    return state.waiters
                }
                for waiter in waiters { waiter.resume(returning: granted) }
            }
            let pointer = Unmanaged.passRetained(context).toOpaque()
            self.context = context
            self.contextPointer = pointer
            var operationTable = FuseOperationTable.make()
            created = fuse_session_new(&self.arguments, &operationTable, MemoryLayout<fuse_lowlevel_ops>.size, pointer)
        } else {
            self.context = nil
            self.contextPointer = nil
            var operationTable = fuse_lowlevel_ops()  // zeroed: libfuse answers ENOSYS
            created = fuse_session_new(&self.arguments, &operationTable, MemoryLayout<fuse_lowlevel_ops>.size, nil)
        }
        guard let created else {
            if let contextPointer { Unmanaged<FuseSessionContext>.fromOpaque(contextPointer).release() }
            fuse_opt_free_args(&self.arguments)
            Self.free(argv, argc)
            throw LustreError(errno: EINVAL, "fuse_session_new \(arguments.dropFirst().joined(separator: " "))")
        }
        session = created
    }

    deinit {
        close()
        fuse_session_destroy(session)
        if let contextPointer { Unmanaged<FuseSessionContext>.fromOpaque(contextPointer).release() }
        fuse_opt_free_args(&arguments)
        Self.free(argv, argc)
    }

    /// Requests served through FUSE over io_uring so far (`FuseConnection.overIOURing`).
    public var requestsThroughIOURing: Int {
        context?.initExtension.uring?.delivered.load(ordering: .relaxed) ?? 0
    }

    /// libfuse's version, as FUSE_VERSION encodes it (3.14 → 314).
    public static var libraryVersion: Int { Int(fuse_version()) }

    /// Whether the session exists (always, once initialised; for tests).
    var isCreated: Bool { true }

    /// Mounts the session on `mountpoint` (an existing directory). As root libfuse mounts
    /// directly; otherwise through `fusermount3`.
    public func mount(at mountpoint: String) throws(LustreError) {
        var st = Glibc.stat()
        guard stat(mountpoint, &st) == 0 else { throw LustreError.fromErrno("mount point \(mountpoint)") }
        guard st.st_mode & S_IFMT == S_IFDIR else { throw LustreError(errno: ENOTDIR, "mount point \(mountpoint)") }
        errno = 0
        guard fuse_session_mount(session, mountpoint) == 0 else {
            let code = errno == 0 ? EIO : errno
            throw LustreError(errno: code, "mount FUSE on \(mountpoint)")
        }
        state.withLock { $0.mountpoint = mountpoint }
        // The session's I/O passes INIT through `FuseInitExtension` (flags libfuse cannot set).
        if let context, context.initExtension.isNeeded {
            context.session = session
            var io = FuseInitExtension.customIO()
            guard fuse_session_custom_io(session, &io, fuse_session_fd(session)) == 0 else {
                close()  // nothing is left mounted
                throw LustreError(errno: EIO, "FUSE session I/O on \(mountpoint)")
            }
        }
    }

    /// Serves requests until the filesystem is unmounted, on `maxThreads` OS threads at most.
    /// Returns libfuse's status: 0, or a negative errno.
    public func run(maxThreads: Int = 16) async -> Int32 {
        let thread = Mutex<OSThread?>(nil)
        let status: Int32 = await withCheckedContinuation { continuation in
            do throws(LustreError) {
                let started = try OSThread(name: "fuse-loop") { [self] in
                    let config = fuse_loop_cfg_create()
                    fuse_loop_cfg_set_clone_fd(config, 0)
                    fuse_loop_cfg_set_max_threads(config, UInt32(max(1, maxThreads)))
                    fuse_loop_cfg_set_idle_threads(config, UInt32(max(1, min(maxThreads, 8))))
                    let rc = fuse_session_loop_mt(session, config)
                    fuse_loop_cfg_destroy(config)
                    continuation.resume(returning: rc)
                }
                thread.withLock { $0 = started }
            } catch {
                continuation.resume(returning: -error.errno)
            }
        }
        // The loop has returned: its thread is about to end; reap it so none outlives the session.
        thread.withLock { $0 }?.join()
        context?.initExtension.uring?.stop()
        let waiters = state.withLock { state in
            state.loopEnded = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        return status
    }

    /// Waits until the kernel's INIT has been answered and returns what was negotiated; nil if the
    /// loop ended first.
    public func initialized() async -> FuseConnection? {
        await withCheckedContinuation { continuation in
            let answer: FuseConnection?? = state.withLock { state in
                if let granted = state.initialized { return .some(granted) }
                if state.loopEnded { return .some(nil) }
                state.waiters.append(continuation)
                return .none
            }
            if let answer { continuation.resume(returning: answer) }
        }
    }

    /// Unmounts the filesystem from outside (SIGTERM): a plain unmount, or a lazy one if it is
    /// busy; `run()` then returns. Safe from any thread, while the loop runs.
    public func unmount() throws(LustreError) {
        guard let mountpoint = state.withLock({ $0.mountpoint }) else { return }
        if umount2(mountpoint, 0) == 0 { return }
        let first = errno
        if first == EBUSY, umount2(mountpoint, Int32(MNT_DETACH)) == 0 { return }
        if first == EPERM {
            // Not root: the setuid helper does it.
            if try ExternalCommand.run(["fusermount3", "-u", "-z", mountpoint]) == 0 { return }
        }
        throw LustreError(errno: first, "unmount \(mountpoint)")
    }

    /// Makes the kernel drop what it cached of `node`'s attributes (`fuse_lowlevel_notify_inval_inode`
    /// with a negative offset: no page cache dropped), so it asks again before trusting the size.
    /// Safe from a request handler. Returns 0, or the errno (`ENOENT`: the kernel does not hold
    /// the node; `ENOTCONN`: not mounted).
    @discardableResult
    public func invalidateAttributes(of node: UInt64) -> Int32 {
        let live = state.withLock { $0.mountpoint != nil && !$0.unmounted && !$0.loopEnded }
        guard live else { return ENOTCONN }
        let rc = fuse_lowlevel_notify_inval_inode(session, fuse_ino_t(node), -1, 0)
        return rc < 0 ? -rc : 0
    }

    /// Releases the kernel connection after `run()` has returned (idempotent; also at deinit).
    public func close() {
        let mounted = state.withLock { state -> Bool in
            defer { state.unmounted = true }
            return state.mountpoint != nil && !state.unmounted
        }
        if mounted { fuse_session_unmount(session) }
    }

    /// The bdi (`/sys/class/bdi/MAJ:MIN`) of the mounted filesystem, for tuning `read_ahead_kb`.
    public static func backingDeviceInfo(of mountpoint: String) throws(LustreError) -> String {
        "/sys/class/bdi/" + (try DeviceNumber(ofFileSystemAt: mountpoint)).sysfsName
    }

    private static func free(_ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>, _ argc: Int) {
        for i in 0..<argc { Glibc.free(argv[i]) }
        argv.deallocate()
    }
}
