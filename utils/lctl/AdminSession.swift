import ArgumentParser
import LibCFS
import LustreAdmin

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Talks to every Lustre daemon of this node through the admin sockets in the run directory
/// (`--run-dir`, else `$LUSTRE_RUN_DIR`, else `/run/lustre`) and gathers their answers.
struct AdminSession {
    /// The daemons' run directory.
    let runDir: String
    /// The `lctl` subcommand, for messages (`get_param`).
    let command: String

    init(command: String) {
        self.runDir = AdminClient.environmentRunDir
        self.command = command
    }

    /// One daemon's answer.
    struct Answer {
        /// The socket's file name (`lustre-oss-1234.sock`).
        let daemon: String
        let reply: AdminMessage
    }

    /// Sends `request` to every daemon and returns the answers of those that replied, in socket
    /// name order.  Sockets whose daemon is gone are skipped; other transport failures are
    /// reported on stderr.  Exits with an error if no daemon answered.
    func askAll(_ request: AdminMessage) throws -> [Answer] {
        let names = AdminClient.socketNames(runDir: runDir)
        var answers: [Answer] = []
        var refused: LustreError?
        for name in names {
            do {
                answers.append(Answer(daemon: name, reply: try AdminClient.send(request, to: runDir + "/" + name)))
            } catch {
                switch error.errno {
                case ECONNREFUSED, ENOENT:
                    continue  // left behind by a daemon that was killed
                case EACCES, EPERM:
                    refused = error
                default:
                    fputs("lctl \(command): \(name): \(error)\n", stderr)
                }
            }
        }
        if answers.isEmpty {
            if let refused {
                fputs("error: \(command): \(refused.context): \(refused.strerror) (run lctl as root)\n", stderr)
            } else {
                fputs("error: \(command): no Lustre daemon is running on this node (no admin socket in \(runDir))\n", stderr)
            }
            throw ExitCode(1)
        }
        return answers
    }

    /// Prints a daemon's failed reply as Lustre's lctl does (`error: get_param: …`).
    func report(_ reply: AdminMessage, what: String? = nil) {
        let message = reply.fields.first ?? ""
        let prefix = what.map { "\($0): " } ?? ""
        fputs("error: \(command): \(prefix)\(message): \(String(cString: strerror(reply.status)))\n", stderr)
    }
}

/// `--run-dir DIR` anywhere before the subcommand's own arguments end up in `LUSTRE_RUN_DIR`,
/// so `lctl --run-dir /tmp/x dl` and `lctl dl --run-dir /tmp/x` both work.
enum RunDirArgument {
    static func extract(_ arguments: [String]) -> [String] {
        var rest: [String] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            if argument == "--run-dir", i + 1 < arguments.count {
                setenv("LUSTRE_RUN_DIR", arguments[i + 1], 1)
                i += 2
                continue
            }
            if argument.hasPrefix("--run-dir=") {
                setenv("LUSTRE_RUN_DIR", String(argument.dropFirst("--run-dir=".count)), 1)
                i += 1
                continue
            }
            rest.append(argument)
            i += 1
        }
        return rest
    }
}
