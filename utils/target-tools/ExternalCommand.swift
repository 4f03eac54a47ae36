#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS

/// Runs an external program (mount, umount) and waits for it; its output goes to ours, so the
/// administrator sees mount's own words when it fails.
public enum ExternalCommand {
    /// The exit status of `argv[0]` (looked up in PATH) run with `argv`.
    public static func run(_ argv: [String]) throws(LustreError) -> Int32 {
        var pid: pid_t = 0
        var cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        cArguments.append(nil)
        defer { for argument in cArguments { free(argument) } }
        let rc = posix_spawnp(&pid, argv[0], nil, nil, cArguments, environ)
        guard rc == 0 else { throw LustreError(errno: rc, "run \(argv[0])") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw LustreError.fromErrno("wait for \(argv[0])") }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift does not import.
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
