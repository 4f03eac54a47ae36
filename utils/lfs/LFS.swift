import ArgumentParser
import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs`: Lustre's client utility. It talks to a mount through extended attributes that
/// mount.lustre answers (utils/lfs/README.md), as Lustre's lfs uses xattrs and ioctls.
@main
struct LFS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lfs",
        abstract: "Lustre client utility: striping, space, FIDs.",
        subcommands: [Setstripe.self, Getstripe.self, Df.self, Find.self, Path2FID.self, FID2Path.self, Check.self,
                      Osts.self, Mdts.self, Getname.self, Mkdir.self, Getdirstripe.self])

    /// Parses as ArgumentParser does, after turning `lfs find`'s `! OPTION` negations (which
    /// ArgumentParser cannot take) into `--negate NAME OPTION`.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "find" { arguments = Find.rewritingNegations(arguments) }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Prints `lfs CMD: message` and fails with the errno as exit status, as Lustre's lfs does.
func fail(_ command: String, _ error: LustreError) -> ExitCode {
    fputs("lfs \(command): \(error.context.isEmpty ? "" : error.context + ": ")\(error.strerror)\n", stderr)
    return ExitCode(error.errno == 0 ? 1 : error.errno)
}
