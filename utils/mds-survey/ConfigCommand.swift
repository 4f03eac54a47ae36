import ArgumentParser
import LNet
import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `mds-survey config`: fetches the filesystem's configuration from the MGS as a client's MGC
/// does at mount, and prints it, one target per line (the system tests check it).
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Print the configuration a client fetches from the MGS.")

    @Option(help: "The MGS's NID (repeatable: failover nodes).") var mgs: [String]
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "The filesystem name.") var fsname: String = "testfs"
    @Option(help: "This side's NID (default 127.0.0.1@tcp for a loopback MGS).") var source: String?

    func validate() throws {
        guard !mgs.isEmpty else { throw ValidationError("give --mgs NID") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        let lnet: LNetInstance
        let nodes: [NID]
        do {
            nodes = try mgs.map { text throws(LustreError) in try NID(parsing: text) }
            lnet = try await LNetStart.client(reaching: nodes[0], acceptPort: acceptPort, source: source)
        } catch {
            fputs("mds-survey config: \(error)\n", stderr)
            throw ExitCode(1)
        }
        let configuration: FilesystemConfiguration
        let mgc = MGCClient(lnet: lnet, nodes: nodes)
        do {
            configuration = try await mgc.fetch(fsname: fsname)
        } catch {
            fputs("mds-survey config: fetch \(fsname) from \(mgs.joined(separator: ":")): \(error)\n", stderr)
            await mgc.disconnect()
            await lnet.shutdown()
            throw ExitCode(1)
        }
        await mgc.disconnect()
        await lnet.shutdown()
        print("fsname \(configuration.fsname) generation \(configuration.generation)")
        for entry in configuration.mdts {
            print("mdt \(entry.index) \(entry.name) \(entry.nids.joined(separator: ","))")
        }
        for entry in configuration.osts {
            print("ost \(entry.index) \(entry.name) \(entry.nids.joined(separator: ","))")
        }
        let layout = configuration.defaultLayout
        print("default_layout stripe_size \(layout.stripeSize) stripe_count \(layout.stripeCountValue) "
              + "stripe_offset \(layout.stripeOffsetValue)")
        for (name, value) in configuration.parameters.sorted(by: { $0.key < $1.key }) {
            print("param \(name)=\(value)")
        }
    }
}
