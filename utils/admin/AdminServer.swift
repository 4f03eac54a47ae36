import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A daemon's admin socket: `<run-dir>/<daemon>-<pid>.sock`, owner the daemon's user, mode
/// 0600, answering `lctl` (see `AdminCommands` for the commands and `AdminMessage` for the
/// frames).
///
/// The server runs on a thread of its own, never on the daemon's event loops or the Swift
/// concurrency pool: it blocks in `poll`/`accept` and serves one short request per
/// connection, with send and receive bounded by a timeout so a stuck client cannot hold it.
/// Peers are checked with `SO_PEERCRED`: only root and the daemon's own user are served;
/// others get an `EACCES` reply.
///
/// ```swift
/// let admin = try AdminServer.start(runDir: runDir, daemon: "lustre-oss")
/// defer { admin.stop() }
/// ```
public final class AdminServer: Sendable {
    /// The socket's path.
    public let path: String
    private let listenFD: Int32
    private let wakeFDs: (read: Int32, write: Int32)
    private let thread: Mutex<pthread_t?>
    private let stopped = Atomic<Bool>(false)
    private let commands: AdminCommands
    private let allowedUIDs: Set<uid_t>

    /// The socket file name a daemon uses: `lustre-oss-1234.sock`.
    public static func socketName(daemon: String, pid: Int32 = getpid()) -> String {
        "\(daemon)-\(pid).sock"
    }

    /// Creates `runDir` if needed (mode 0755), removes sockets left there by dead processes of
    /// the same daemon, binds `<runDir>/<daemon>-<pid>.sock` with mode 0600 and starts serving;
    /// `persistent` is the MGS's `set_param -P` in the daemon hosting it.
    ///
    /// - Throws: `EINVAL` for a daemon name that is empty or holds `/`; `ENAMETOOLONG` when the
    ///   path does not fit a Unix socket address; the errno of `mkdir`, `bind` or `listen`.
    public static func start(runDir: String, daemon: String,
                             persistent: (any AdminPersistentParameters)? = nil) throws(LustreError) -> AdminServer {
        try start(runDir: runDir, daemon: daemon, commands: AdminCommands(daemon: daemon, persistent: persistent))
    }

    /// `start(runDir:daemon:)` with the commands (tree, registry) and the users served given:
    /// tests serve a tree of their own, or refuse their own user to see the refusal.
    public static func start(runDir: String, daemon: String, commands: AdminCommands,
                             allowedUIDs: Set<uid_t> = [0, geteuid()]) throws(LustreError) -> AdminServer {
        guard !daemon.isEmpty, !daemon.contains("/") else { throw .invalid("bad daemon name '\(daemon)'") }
        try makeDirectory(runDir)
        removeStaleSockets(runDir: runDir, daemon: daemon)
        let path = runDir + "/" + socketName(daemon: daemon)
        var address = try AdminSocketIO.address(path)
        unlink(path)
        let fd = try AdminSocketIO.socket()
        // Built with _GNU_SOURCE, glibc's sockaddr arguments are transparent unions.
        let rc = withUnsafePointer(to: &address) {
            bind(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
        }
        guard rc == 0 else {
            let error = LustreError.fromErrno("bind admin socket \(path)")
            close(fd)
            throw error
        }
        // Before listen(): nobody can connect while the mode is still the umask's.
        guard chmod(path, 0o600) == 0, listen(fd, 16) == 0 else {
            let error = LustreError.fromErrno("admin socket \(path)")
            close(fd)
            unlink(path)
            throw error
        }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe2(&pipeFDs, O_CLOEXEC) == 0 else {
            let error = LustreError.fromErrno("pipe for the admin server")
            close(fd)
            unlink(path)
            throw error
        }
        let server = AdminServer(path: path, listenFD: fd, wake: (pipeFDs[0], pipeFDs[1]),
                                 commands: commands, allowedUIDs: allowedUIDs)
        do {
            try server.startThread()
        } catch {
            server.stop()
            throw error
        }
        CDEBUG(.config, "admin socket \(path) listening")
        return server
    }

    private init(path: String, listenFD: Int32, wake: (read: Int32, write: Int32), commands: AdminCommands,
                 allowedUIDs: Set<uid_t>) {
        self.path = path
        self.listenFD = listenFD
        self.wakeFDs = wake
        self.commands = commands
        self.allowedUIDs = allowedUIDs
        self.thread = Mutex(nil)
    }

    /// Stops serving, waits for the thread, and removes the socket file.  Later calls do nothing.
    public func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        var byte: UInt8 = 1
        _ = write(wakeFDs.write, &byte, 1)
        if let id = thread.withLock({ $0 }) { pthread_join(id, nil) }
        close(listenFD)
        close(wakeFDs.read)
        close(wakeFDs.write)
        unlink(path)
    }

    deinit { stop() }

    private final class Start: Sendable {
        let server: AdminServer
        init(_ server: AdminServer) { self.server = server }
    }

    private func startThread() throws(LustreError) {
        let start = Unmanaged.passRetained(Start(self)).toOpaque()
        var id = pthread_t()
        let rc = pthread_create(&id, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            _ = pthread_setname_np(pthread_self(), "lustre-admin")
            start.server.serve()
            return nil
        }, start)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw LustreError(errno: rc, "pthread_create for the admin server")
        }
        thread.withLock { $0 = id }
    }

    /// The thread's loop: wait for a connection or the stop byte.
    private func serve() {
        var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFDs.read, events: Int16(POLLIN), revents: 0)]
        while !stopped.load(ordering: .acquiring) {
            fds[0].revents = 0
            fds[1].revents = 0
            let n = poll(&fds, 2, -1)
            if n < 0 {
                if errno == EINTR { continue }
                CERROR("admin socket \(path): poll: \(LustreError.fromErrno().strerror)")
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            let client = accept4(listenFD, __SOCKADDR_ARG(__sockaddr__: nil), nil, Int32(SOCK_CLOEXEC.rawValue))
            if client < 0 {
                if errno != EINTR && errno != EAGAIN && errno != ECONNABORTED {
                    CWARN("admin socket \(path): accept: \(LustreError.fromErrno().strerror)")
                }
                continue
            }
            serveConnection(client)
            close(client)
        }
    }

    private func serveConnection(_ fd: Int32) {
        AdminSocketIO.setTimeouts(fd)
        var credentials = ucred()
        var length = socklen_t(MemoryLayout<ucred>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else {
            CWARN("admin socket \(path): SO_PEERCRED: \(LustreError.fromErrno().strerror)")
            return
        }
        guard allowedUIDs.contains(credentials.uid) else {
            CWARN("admin socket \(path): refused uid \(credentials.uid) (pid \(credentials.pid))")
            try? AdminSocketIO.writeAll(fd, AdminMessage.failure(
                LustreError(errno: EACCES, "uid \(credentials.uid) may not use the admin socket of \(commands.daemon)")).encoded())
            return
        }
        let reply: AdminMessage
        do {
            let request = try AdminSocketIO.readMessage(fd, maxPayload: AdminMessage.maxRequestPayload)
            reply = commands.handle(request)
        } catch {
            CDEBUG(.ioctl, "admin socket \(path): bad request from pid \(credentials.pid): \(error)")
            if error.errno == ECONNRESET { return }
            reply = .failure(error)
        }
        do {
            try AdminSocketIO.writeAll(fd, reply.encoded())
        } catch {
            CDEBUG(.ioctl, "admin socket \(path): reply to pid \(credentials.pid) lost: \(error)")
        }
    }

    private static func makeDirectory(_ path: String) throws(LustreError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw .fromErrno("mkdir \(prefix)")
            }
        }
    }

    /// Sockets `<daemon>-<pid>.sock` whose process is gone (killed with SIGKILL): `lctl` would
    /// only be refused by them.
    private static func removeStaleSockets(runDir: String, daemon: String) {
        for name in AdminClient.socketNames(runDir: runDir) where name.hasPrefix(daemon + "-") {
            let pidText = name.dropFirst(daemon.count + 1).dropLast(".sock".count)
            guard let pid = Int32(pidText), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(runDir + "/" + name) }
        }
    }
}
