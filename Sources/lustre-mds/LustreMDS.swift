import ArgumentParser
import LNet
import LibCFS
import LustreAdmin
import LustreMetrics
import LustreTargetTools
import MDT
import MGS
import ObdClass
import PtlRPC

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lustre-mds`: serves the MGS and MDT of one combined target (`mkfs.lustre --mgs --mdt`) over
/// LNet until SIGTERM or SIGINT.
@main
struct LustreMDS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lustre-mds",
        abstract: "Serve the MGS and MDT of a target made by mkfs.lustre --mgs --mdt (image, device or --backfs-dir directory).",
        version: LustreVersion.string)

    @Option(help: "The NID to serve on, e.g. 127.0.0.1@tcp (default: the first of 'options lnet networks=' in /etc/lustre/lustre.conf).")
    var nid: String?
    @Option(help: "Serve the target with this label, its device found in /etc/lustre/ldev.conf (systemd units use it).")
    var ldev: String?
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "Where images and devices are mounted (RUN_DIR/mnt/<target>).") var runDir: String = "/run/lustre"
    @Option(help: "MDT request handler tasks.") var threads: Int = 16
    @Option(help: "Seconds between commits of the MDT's log.") var commitInterval: Double = 1.0
    @Option(help: ArgumentHelp("Seconds after a start during which clients may come back for what the MDS lost or kept for them "
                               + "(Lustre's recovery_time_soft): files unlinked while open wait to be opened again, objects of "
                               + "creates a crash lost wait for the replays that take them back.", valueName: "seconds"))
    var recoveryTime: Double = 60
    @Option(help: "Serve Prometheus metrics (lustre_exporter's names) on HOST:PORT, e.g. 0.0.0.0:9169.")
    var metricsAddress: String?
    @Argument(help: "The target: an ext4 image or device made by mkfs.lustre --mgs --mdt, or a --backfs-dir directory.")
    var target: String?

    func validate() throws {
        guard (target == nil) != (ldev == nil) else { throw ValidationError("give the target, or --ldev LABEL (not both)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard commitInterval > 0 else { throw ValidationError("--commit-interval must be positive") }
        guard recoveryTime >= 0, recoveryTime <= 86_400 else { throw ValidationError("--recovery-time must be 0...86400") }
        guard (1...65535).contains(acceptPort) else { throw ValidationError("--accept-port must be 1...65535") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        do {
            try await serve()
        } catch {
            fputs("lustre-mds: \(error)\n", stderr)
            throw ExitCode(1)
        }
    }

    private func serve() async throws(LustreError) {
        let nid = try LNetNetworks.serverNID(self.nid)
        let device = try ldev.map { label throws(LustreError) in try LDevConfiguration.load().device(for: label) } ?? target!
        let prepared = try ServerTarget.prepare(device, runDir: runDir, role: .mdt)
        // Unmounting needs every file of the MDT closed: the devices live in `run` only.
        defer { prepared.release() }
        guard prepared.mountData.isMGS else {
            throw .invalid("\(prepared.name) has no MGS (format it with mkfs.lustre --mgs --mdt): "
                           + "lustre-mds serves the MGS and the MDT together")
        }
        var options = MDSServer.Options()
        options.threads = threads
        options.commitInterval = commitInterval
        options.recoveryTime = recoveryTime
        options.acceptPort = acceptPort
        let server = try await MDSServer.start(target: prepared.name, root: prepared.root, nid: nid, options: options)
        // After the MGS is up: the socket also takes `lctl set_param -P`.
        let admin: AdminServer
        var metrics: MetricsServer?
        do throws(LustreError) {
            admin = try AdminServer.start(runDir: runDir, daemon: "lustre-mds",
                                          persistent: MGSAdminParameters(mgs: server.mgs))
            if let metricsAddress { metrics = try await MetricsServer.start(address: metricsAddress) }
        } catch {
            await server.stop()
            throw error
        }
        defer { admin.stop() }
        print("lustre-mds: serving \(prepared.name) (MGS) on \(nid) port \(acceptPort), pid \(getpid())")
        fflush(stdout)
        SystemdNotify.notify("READY=1\nSTATUS=serving \(prepared.name) and the MGS on \(nid)")

        await TerminationSignal.wait()
        SystemdNotify.notify("STOPPING=1\nSTATUS=stopping")
        LCONSOLE("lustre-mds: stopping \(prepared.name)")
        await metrics?.stop()
        await server.stop()
    }
}
