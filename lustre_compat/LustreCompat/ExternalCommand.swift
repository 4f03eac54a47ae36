#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS

/// Runs an external program (mount, umount, mke2fs) with posix_spawn and waits for it.
///
/// posix_spawn rather than Foundation's `Process`: it is one syscall pair with no helper thread,
/// and it was seen to crash inside `Process.run()` when many tests spawned tools at once.
public enum ExternalCommand {
    /// The exit status of `argv[0]` (looked up in PATH) run with `argv`; its output goes to
    /// ours, so an administrator sees mount's own words when it fails. Killed by a signal: 128+N.
    public static func run(_ argv: [String]) throws(LustreError) -> Int32 {
        try spawn(argv, stdoutFD: nil).status
    }

    /// Runs `argv` with its standard output captured (and standard error with it when
    /// `includingStandardError`, else discarded) and returns the exit status and what it printed.
    public static func output(_ argv: [String], includingStandardError: Bool = false) throws(LustreError)
        -> (status: Int32, output: String) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw LustreError.fromErrno("pipe for \(argv.first ?? "")") }
        let spawned: (status: Int32, output: String)
        do {
            spawned = try spawn(argv, stdoutFD: fds[1], readFD: fds[0], mergeStandardError: includingStandardError)
        } catch {
            close(fds[0])
            throw error
        }
        close(fds[0])
        return spawned
    }

    private static func spawn(_ argv: [String], stdoutFD: Int32?, readFD: Int32? = nil, mergeStandardError: Bool = false)
        throws(LustreError)
        -> (status: Int32, output: String) {
        guard let tool = argv.first else { throw .invalid("no command to run") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdoutFD {
            posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1)
            if mergeStandardError {
                posix_spawn_file_actions_adddup2(&actions, stdoutFD, 2)
            } else {
                posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            }
            if let readFD { posix_spawn_file_actions_addclose(&actions, readFD) }
        }
        var pid: pid_t = 0
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for argument in cArguments { free(argument) } }
        let rc = posix_spawnp(&pid, tool, &actions, nil, cArguments, environ)
        if let stdoutFD { close(stdoutFD) }
        guard rc == 0 else { throw LustreError(errno: rc, "run \(tool)") }
        var output: [UInt8] = []
        if let readFD {
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
                if count > 0 { output += chunk[0..<count]; continue }
                if count < 0, errno == EINTR { continue }
                break
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw LustreError.fromErrno("wait for \(tool)") }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift does not import.
        let exit = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: output, as: UTF8.self))
    }
}
