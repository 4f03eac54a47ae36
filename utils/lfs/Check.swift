import ArgumentParser
import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs check osts|mdts|mgts|servers|all`: pings each target through the client's imports and
/// says `DEVICE active.` for those that answer, as Lustre's lfs does.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Ping the OSTs, MDTs or MGS of every Lustre mount (or the one holding PATH) and say which answer.")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case osts, mdts, mds, mgts, servers, all

        /// The target kinds (`lustre.check`'s second field) this word covers.
        var targetKinds: Set<String> {
            switch self {
            case .osts: ["OST"]
            case .mdts, .mds: ["MDT"]
            case .mgts: ["MGS"]
            case .servers: ["OST", "MDT"]
            case .all: ["OST", "MDT", "MGS"]
            }
        }
    }

    @Argument(help: "What to check: osts, mdts, mgts, servers (OSTs and MDTs) or all.") var kind: Kind
    @Argument(help: "Check only the filesystem holding this path (default: every Lustre mount).")
    var path: String?

    /// One `lustre.check` line.
    struct Line: Equatable {
        var device: String
        var kind: String
        var errno: Int32
    }

    static func parse(_ text: String) throws(LustreError) -> [Line] {
        var lines: [Line] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            guard f.count == 3, let errno = Int32(f[2]) else { throw .protocolError("bad check line '\(line)'") }
            lines.append(Line(device: String(f[0]), kind: String(f[1]), errno: errno))
        }
        return lines
    }

    func run() throws {
        let mounts: [LustreMounts.Mount]
        do throws(LustreError) {
            mounts = try LustreMounts.selected(by: path)
        } catch {
            throw fail("check", error)
        }
        guard !mounts.isEmpty else {
            throw fail("check", LustreError(errno: ENODEV, "no Lustre filesystem mounted"))
        }
        var failure: ExitCode?
        for mount in mounts {
            do throws(LustreError) {
                for line in try Self.parse(try Xattr.getText(mount.mountpoint, "lustre.check"))
                where kind.targetKinds.contains(line.kind) {
                    if line.errno == 0 {
                        print("\(line.device) active.")
                    } else {
                        fputs("lfs check: error: check '\(line.device)': \(String(cString: strerror(line.errno))) (\(line.errno))\n",
                              stderr)
                        failure = ExitCode(line.errno)
                    }
                }
            } catch {
                failure = fail("check", error.adding(context: mount.mountpoint))
            }
        }
        if let failure { throw failure }
    }
}
