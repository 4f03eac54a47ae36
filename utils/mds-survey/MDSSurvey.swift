import ArgumentParser
import LibCFS
import NIOCore
import NIOPosix
import PtlRPC

/// `mds-survey`: Lustre's metadata benchmark, over RPC against a running MDS (create, lookup,
/// getattr, setattr and destroy rates from several threads), with the same run on a local
/// directory as the baseline, plus the namespace storm the MDS crash test drives and checks.
@main
struct MDSSurvey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mds-survey",
        abstract: "Measure an MDS's metadata rates, or storm and check its namespace.",
        version: LustreVersion.string,
        subcommands: [SurveyCommand.self, StormCommand.self, VerifyCommand.self, ConfigCommand.self],
        defaultSubcommand: SurveyCommand.self)

    /// `run` (the default subcommand) is a pure network client: its tasks only wait for RPCs
    /// (`--local` does its syscalls on OS threads of its own), so Swift's global executor is
    /// NIO's event loops and a reply resumes its task on the loop it arrived on instead of
    /// hopping to the pool: ~25 % less harness CPU per operation, which the MDS shares.
    static func main() async {
        let first = CommandLine.arguments.dropFirst().first ?? "run"
        if !["storm", "verify", "config", "help"].contains(first) {
            _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await main(nil)
    }
}
