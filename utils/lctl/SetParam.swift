import ArgumentParser
import LustreAdmin

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl set_param [-n] NAME=VALUE...`: changes parameters in every daemon of this node that
/// has them, live.
struct SetParam: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_param",
        abstract: "Set parameters (glob patterns allowed): 'osc.*.max_rpcs_in_flight=16', 'fail_loc=0x505'.")

    @Flag(name: .customShort("n"), help: "Do not print what was set.") var quiet = false
    @Flag(name: .customShort("P"), help: "Set permanently through the MGS (not supported yet).") var permanent = false
    @Argument(help: "NAME=VALUE pairs.") var settings: [String]

    func validate() throws {
        guard !settings.isEmpty else { throw ValidationError("give at least one NAME=VALUE") }
        for setting in settings where !setting.contains("=") || setting.hasPrefix("=") {
            throw ValidationError("'\(setting)' is not NAME=VALUE")
        }
    }

    func run() async throws {
        if permanent {
            fputs("error: set_param: -P (persistent parameters through the MGS) is not supported yet; "
                  + "set the parameter without -P, or with tunefs.lustre --param on the target\n", stderr)
            throw ExitCode(1)
        }
        let session = AdminSession(command: "set_param")
        var failed = false
        for setting in settings {
            let split = setting.firstIndex(of: "=")!
            let name = String(setting[..<split])
            let value = String(setting[setting.index(after: split)...])
            var done: [String] = []
            var notFound: AdminMessage?
            for answer in try session.askAll(.request("set_param", [name, value])) {
                let reply = answer.reply
                if reply.status == ENOENT { notFound = reply; continue }
                guard reply.status == 0 else {
                    // A rejected value: the daemon kept the old one and says why.
                    session.report(reply)
                    failed = true
                    continue
                }
                done.append(contentsOf: reply.fields)
            }
            if done.isEmpty && !failed {
                if let notFound { session.report(notFound) }
                failed = true
            }
            if !quiet {
                var printed: Set<String> = []
                for set in done where printed.insert(set).inserted { print("\(set)=\(value)") }
            }
        }
        if failed { throw ExitCode(1) }
    }
}
