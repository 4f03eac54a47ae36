import ArgumentParser
import LNet
import LibCFS
import PtlRPC

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl`: Lustre's control utility.
@main
struct Lctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lctl",
        abstract: "Lustre control utility.",
        discussion: """
            dl, get_param, set_param, list_param, dk and clear talk to every Lustre daemon of this \
            node through its admin socket in the run directory (--run-dir DIR, else \
            $LUSTRE_RUN_DIR, else /run/lustre).
            """,
        version: "lctl \(LustreVersion.string)",
        subcommands: [ListNids.self, Ping.self, DeviceList.self, GetParam.self, SetParam.self, ListParam.self,
                      DebugKernel.self, Clear.self])

    /// Takes `--run-dir DIR` out of the arguments wherever it is, then runs the subcommand.
    static func main() async {
        await main(RunDirArgument.extract(Array(CommandLine.arguments.dropFirst())))
    }
}

struct ListNids: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_nids",
        abstract: "Print this node's NIDs, one per line (from 'options lnet networks=' in /etc/lustre/lustre.conf).")

    func run() async throws {
        do {
            for nid in try LNetNetworks.localNIDs() { print(nid) }
        } catch {
            fputs("lctl list_nids: \(error)\n", stderr)
            throw ExitCode(1)
        }
    }
}

struct Ping: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check LNet connectivity to a NID; prints the peer's NIDs as PID-NID.")

    @Argument(help: "The NID to ping, e.g. 192.168.1.10@tcp.") var nid: String
    @Argument(help: "Timeout in seconds.") var timeout: Int = 5
    @Option(help: "The LNet acceptor port of the peer.") var acceptPort: Int = 988
    @Option(help: "This side's NID (default: 127.0.0.1@tcp for a loopback peer, else the node's first NID).")
    var source: String?

    func run() async throws {
        LustreDebug.applyEnvironment()
        let target: NID
        do {
            target = try NID(parsing: nid)
        } catch {
            fputs("lctl ping: \(error.context)\n", stderr)
            throw ExitCode(1)
        }
        var configuration = LNetConfiguration()
        configuration.acceptPort = acceptPort
        configuration.listen = false
        configuration.connectTimeout = Int64(max(1, timeout))
        do {
            let local = try source.map { try NID(parsing: $0) }
                ?? (target.address >> 24 == 127 ? NID(address: 0x7f00_0001) : LNetNetworks.localNIDs()[0])
            let lnet = try await LNetInstance.start(nid: local, configuration: configuration)
            let ids: [ProcessID]
            do {
                ids = try await lnet.ping(target, timeout: Int64(max(1, timeout)))
            } catch {
                await lnet.shutdown()
                throw error
            }
            for id in ids { print(id) }
            await lnet.shutdown()
        } catch let error as LustreError {
            fputs("failed to ping \(target): \(error.strerror) (\(error.context))\n", stderr)
            throw ExitCode(1)
        }
    }
}
