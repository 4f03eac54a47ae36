import ArgumentParser
import LNet
import LibCFS
import LustreAdmin
import LustreCompat
import LustreMetrics
import MDC
import LustreTargetTools
import OFD
import OSD
import ObdClass
import PtlRPC

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lustre-oss`: serves OSTs over LNet until SIGTERM or SIGINT.
@main
struct LustreOSS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lustre-oss",
        abstract: "Serve one or more OSTs (images, devices, or mkfs.lustre --backfs-dir directories).",
        version: LustreVersion.string)

    @Option(help: "The NID to serve on, e.g. 127.0.0.2@tcp (default: the first of 'options lnet networks=' in /etc/lustre/lustre.conf).")
    var nid: String?
    @Option(help: "Serve the target with this label, its device found in /etc/lustre/ldev.conf (repeatable; systemd units use it).")
    var ldev: [String] = []
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "Where images and devices are mounted (RUN_DIR/mnt/<target>).") var runDir: String = "/run/lustre"
    @Option(help: "The I/O engine: io_uring, libaio or sync (default: the best that works).") var ioEngine: String?
    @Flag(help: "Read aligned bulk with O_DIRECT too, bypassing the page cache (no OSS read cache or read-ahead).")
    var directIO = false
    @Flag(inversion: .prefixedNo,
          help: "Write aligned bulk with O_DIRECT, from the network's buffer to the disk, not through the page cache (as Lustre's OSD submits a bulk's pages); --no-direct-writes writes through the page cache.")
    var directWrites = true
    @Option(name: .customLong("readcache-max-io-mb"),
            help: "Reads longer than this many MiB bypass the page cache (Lustre's readcache_max_io_mb; needs direct writes, the default).")
    var readcacheMaxIOMB: Int = 1
    @Option(help: "The MGS's NID (repeatable; default: mgsnode= of the targets' mountdata).") var mgsnode: [String] = []
    @Option(help: "Request handler tasks.") var threads: Int = 32
    @Option(help: "Seconds between commits of the object stores.") var commitInterval: Double = 1.0
    @Option(help: "Serve Prometheus metrics (lustre_exporter's names) on HOST:PORT, e.g. 0.0.0.0:9169.")
    var metricsAddress: String?
    @Argument(help: "Targets: ext4 images or devices made by mkfs.lustre, or --backfs-dir directories.")
    var targets: [String] = []

    func validate() throws {
        guard !targets.isEmpty || !ldev.isEmpty else { throw ValidationError("give at least one target (or --ldev LABEL)") }
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard commitInterval > 0 else { throw ValidationError("--commit-interval must be positive") }
        guard (0...(OSDDevice.maxReadLength >> 20)).contains(readcacheMaxIOMB) else {
            throw ValidationError("--readcache-max-io-mb must be 0...\(OSDDevice.maxReadLength >> 20)")
        }
        if let ioEngine, IOEngineKind(name: ioEngine) == nil {
            throw ValidationError("--io-engine must be io_uring, libaio or sync")
        }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        do {
            try await serve()
        } catch {
            fputs("lustre-oss: \(error)\n", stderr)
            throw ExitCode(1)
        }
    }

    private func serve() async throws(LustreError) {
        let nid = try LNetNetworks.serverNID(self.nid)
        var prepared: [ServerTarget] = []
        // Unmounting needs every file of the OSDs closed, which their deinit does: so they live in
        // `run` only, and the targets are released once it has returned.
        defer { for target in prepared.reversed() { target.release() } }
        let ldevConfiguration = ldev.isEmpty ? nil : try LDevConfiguration.load()
        var ldevTargets: [String] = []
        for label in ldev { ldevTargets.append(try ldevConfiguration!.device(for: label)) }
        for path in targets + ldevTargets {
            let target = try ServerTarget.prepare(path, runDir: runDir, role: .ost)
            prepared.append(target)
            if prepared.dropLast().contains(where: { $0.name == target.name }) {
                throw .invalid("\(target.name) given twice")
            }
        }
        try await run(prepared, on: nid)
    }

    /// Opens the object stores, serves them until SIGTERM or SIGINT, and closes them.
    private func run(_ prepared: [ServerTarget], on nid: NID) async throws(LustreError) {
        let admin = try AdminServer.start(runDir: runDir, daemon: "lustre-oss")
        defer { admin.stop() }
        var options = OSDDevice.Options()
        options.engine = ioEngine.flatMap { IOEngineKind(name: $0) }
        options.directIO = directIO
        options.directWrites = directWrites
        options.readCacheMaxIOMB = readcacheMaxIOMB
        options.commitInterval = commitInterval
        var osds: [OSDDevice] = []
        func closeAll() async {
            for osd in osds { await osd.close() }
        }
        for target in prepared {
            if !target.contains("O") { LCONSOLE("\(target.name): new disk, initializing") }
            do {
                osds.append(try await OSDDevice.open(root: target.root, options: options))
            } catch {
                await closeAll()
                throw error.adding(context: "\(target.name)")
            }
        }

        var lnetConfiguration = LNetConfiguration()
        lnetConfiguration.acceptPort = acceptPort
        // Direct writes go from the buffer the socket filled: it must be page-aligned.
        lnetConfiguration.pageAlignedBulk = options.directWrites || options.directIO
        let lnet: LNetInstance
        do {
            lnet = try await LNetInstance.start(nid: nid, configuration: lnetConfiguration)
        } catch {
            await closeAll()
            throw error.adding(context: "start LNet on \(nid) port \(acceptPort)")
        }
        let ofdTargets = zip(prepared, osds).map { OFDTarget(name: $0.name, osd: $1) }
        let service = OFDService(lnet: lnet, targets: ofdTargets, threads: threads)
        service.start()
        let ossDevice = ObdDeviceRegistry.shared.register(type: "ost", name: "OSS", uuid: "OSS_UUID",
                                                          references: { service.exportCount })
        defer { ossDevice.unregister() }
        var metrics: MetricsServer?
        if let metricsAddress {
            do {
                metrics = try await MetricsServer.start(address: metricsAddress)
            } catch {
                await service.stop()
                await lnet.shutdown()
                await closeAll()
                throw error
            }
        }
        for target in ofdTargets {
            LCONSOLE("serving \(target.name) on \(nid) (\(target.osd.engineKind) I/O)")
        }
        let mgsNodes = self.mgsNodes(prepared)
        let registration = mgsNodes.isEmpty ? nil
            : MGSRegistration.start(lnet: lnet, nodes: mgsNodes, targets: prepared.map(\.name))
        // The MGC side: the `lctl set_param -P` parameters of the targets' filesystems, applied
        // now and whenever they change.
        let mgc = mgsNodes.isEmpty ? nil : MGCClient(lnet: lnet, nodes: mgsNodes)
        let parameters = MGCParameters()
        var watches: [Task<Void, Never>] = []
        for fsname in Set(prepared.map(\.name.fsname)).sorted() {
            guard let mgc else { break }
            watches.append(mgc.watch(fsname: fsname) { configuration in parameters.update(configuration) })
        }
        print("lustre-oss: serving \(prepared.map(\.name.description).joined(separator: ",")) on \(nid) "
              + "port \(acceptPort), pid \(getpid())")
        fflush(stdout)
        SystemdNotify.notify("READY=1\nSTATUS=serving \(prepared.map(\.name.description).joined(separator: ",")) on \(nid)")

        await TerminationSignal.wait()
        SystemdNotify.notify("STOPPING=1\nSTATUS=stopping")
        LCONSOLE("lustre-oss: stopping \(prepared.map(\.name.description).joined(separator: ","))")
        registration?.cancel()
        for watch in watches { watch.cancel() }
        await mgc?.disconnect()
        await metrics?.stop()
        await service.stop()
        for target in ofdTargets { target.unregister() }
        await lnet.shutdown()
        await closeAll()
    }

    /// The MGS NIDs to register with: --mgsnode, else the first NID of each mountdata mgsnode.
    private func mgsNodes(_ targets: [ServerTarget]) -> [NID] {
        let texts = mgsnode.isEmpty
            ? targets.flatMap { $0.mountData.mgsNodes.compactMap(\.first) } : mgsnode
        var nodes: [NID] = []
        for text in texts {
            guard let node = try? NID(parsing: text) else {
                CWARN("ignoring MGS NID '\(text)': not a NID")
                continue
            }
            if !nodes.contains(node) { nodes.append(node) }
        }
        return nodes
    }
}
