import ArgumentParser
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
}
