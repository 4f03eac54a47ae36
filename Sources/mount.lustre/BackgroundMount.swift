import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// How `mount.lustre` returns once the mount is live while the daemon keeps serving: the parent
/// starts itself again with `-o foreground` in a new session, its stdio detached, and reads a pipe
/// until the child writes `ready` (exit 0) or an error (printed, exit with the child's status).
enum BackgroundMount {
    /// The child finds the pipe's write end in this variable.
    static let readyFDVariable = "LUSTRE_MOUNT_READY_FD"
    /// Where the daemon's messages go once detached (default: nowhere).
    static let logVariable = "LUSTRE_MOUNT_LOG"

    /// Parent side. Returns the exit status for the parent.
    static func spawnChild(arguments: [String]) -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe2(&fds, O_CLOEXEC) == 0 else {
            fputs("mount.lustre: pipe: \(String(cString: strerror(errno)))\n", stderr)
            return 32
        }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let childFD: Int32 = 3
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        let log = getenv(logVariable).map { String(cString: $0) } ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        // dup2 clears close-on-exec on the copy: the child inherits only fd 3.
        posix_spawn_file_actions_adddup2(&actions, writeEnd, childFD)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSID))

        let executable = (try? selfExecutable()) ?? CommandLine.arguments[0]
        let childArguments = [executable] + arguments + ["-o", "foreground"]
        var cArguments: [UnsafeMutablePointer<CChar>?] = childArguments.map { strdup($0) }
        cArguments.append(nil)
        var environment: [UnsafeMutablePointer<CChar>?] = []
        var e = environ
        while let entry = e.pointee {
            if !String(cString: entry).hasPrefix("\(readyFDVariable)=") { environment.append(strdup(entry)) }
            e += 1
        }
        environment.append(strdup("\(readyFDVariable)=\(childFD)"))
        environment.append(nil)
        defer {
            for argument in cArguments { free(argument) }
            for entry in environment { free(entry) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, cArguments, environment)
        close(writeEnd)
        guard rc == 0 else {
            close(readEnd)
            fputs("mount.lustre: cannot start the daemon \(executable): \(String(cString: strerror(rc)))\n", stderr)
            return 32
        }
        var message: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(readEnd, &chunk, chunk.count)
            if count > 0 { message += chunk[..<count]; continue }
            if count < 0 && errno == EINTR { continue }
            break
        }
        close(readEnd)
        let text = String(decoding: message, as: UTF8.self)
        if text.hasPrefix("ready") { return 0 }
        // The child failed before it was ready: it exits; report its words and status.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitCode: Int32 = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let reason = text.trimmingTrailingNewlines()
        fputs("mount.lustre: \(reason.isEmpty ? "the daemon exited with status \(exitCode) before the mount was ready" : reason)\n", stderr)
        return exitCode == 0 ? 32 : exitCode
    }

    private static func selfExecutable() throws(LustreError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard count > 0 else { throw LustreError.fromErrno("readlink /proc/self/exe") }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The child's side of the readiness pipe (nil in a plain foreground run).
final class ReadinessReport: Sendable {
    private let fd: Int32

    init?() {
        guard let text = getenv(BackgroundMount.readyFDVariable), let fd = Int32(String(cString: text)), fd > 2 else {
            return nil
        }
        unsetenv(BackgroundMount.readyFDVariable)
        self.fd = fd
    }

    func ready() { send("ready\n") }

    func failed(_ message: String) { send(message + "\n") }

    private func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while text.last == "\n" || text.last == "\r" { text = text.dropLast() }
        return String(text)
    }
}
