import ArgumentParser
import LustreAdmin

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl set_param [-n] NAME=VALUE...`: changes parameters in every daemon of this node that
/// has them, live.  `-P` records them at the MGS instead (run on the MGS node), from where every
/// client and server of the filesystem applies them, now and at each start; `-P -d NAME` deletes
/// such a record.
struct SetParam: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_param",
        abstract: "Set parameters (glob patterns allowed): 'osc.*.max_rpcs_in_flight=16', 'fail_loc=0x505'.")

    @Flag(name: .customShort("n"), help: "Do not print what was set.") var quiet = false
    @Flag(name: .customShort("P"), help: "Set permanently through the MGS, for every node of the filesystem (run on the MGS node).")
    var permanent = false
    @Flag(name: .customShort("d"), help: "With -P: delete the permanent parameter NAME (nodes keep their current value).")
    var delete = false
    @Argument(help: "NAME=VALUE pairs (with -P -d: NAMEs).") var settings: [String]

    func validate() throws {
        guard !settings.isEmpty else { throw ValidationError("give at least one NAME=VALUE") }
        guard !delete || permanent else { throw ValidationError("-d deletes a permanent parameter: use it with -P") }
        for setting in settings where setting.hasPrefix("=") || (!delete && !setting.contains("=")) {
            throw ValidationError("'\(setting)' is not NAME=VALUE")
        }
    }

    func run() async throws {
        if permanent {
            try setPermanent()
            return
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

extension SetParam {
    /// `-P`: each value is first checked by every local daemon that has a matching tunable (a
    /// bad value is refused before it is stored), then sent to the daemon hosting the MGS.
    func setPermanent() throws {
        let session = AdminSession(command: "set_param")
        var failed = false
        for setting in settings {
            let split = setting.firstIndex(of: "=")
            let name = String(split.map { setting[..<$0] } ?? Substring(setting))
            let value = delete ? nil : split.map { String(setting[setting.index(after: $0)...]) }
            if let value, try !checkLocally(session, name: name, value: value) {
                failed = true
                continue
            }
            let request: AdminMessage = value.map { .request("set_param_perm", [name, $0]) }
                ?? .request("del_param_perm", [name])
            var recorded = false
            var refusal: AdminMessage?
            for answer in try session.askAll(request) {
                switch answer.reply.status {
                case 0: recorded = true
                case ENODEV: continue  // no MGS in that daemon
                default: refusal = refusal ?? answer.reply
                }
            }
            if recorded { continue }
            failed = true
            if let refusal {
                session.report(refusal)
            } else {
                fputs("error: set_param: lctl set_param -P must run on the MGS node "
                      + "(no daemon in \(session.runDir) hosts an MGS)\n", stderr)
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Asks every daemon to validate `name=value` against its own parameters; false (reported)
    /// when one refuses.  Daemons without the parameter (ENOENT) have nothing to say.
    private func checkLocally(_ session: AdminSession, name: String, value: String) throws -> Bool {
        for answer in try session.askAll(.request("check_param", [name, value])) where answer.reply.status != 0 && answer.reply.status != ENOENT
            && answer.reply.status != EOPNOTSUPP {
            session.report(answer.reply)
            return false
        }
        return true
    }
}
