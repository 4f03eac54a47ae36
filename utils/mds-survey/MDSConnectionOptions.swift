import ArgumentParser
import LNet
import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Where the MDS is and who we are on LNet: shared by every subcommand that talks to it.
struct MDSConnectionOptions: ParsableArguments {
    @Option(help: "The MDS's NID, e.g. 127.0.0.1@tcp.") var mds: String?
    @Option(help: "The LNet acceptor port.") var acceptPort: Int = 988
    @Option(help: "The filesystem name (the MDT is FSNAME-MDT0000).") var fsname: String = "testfs"
    @Option(help: "This side's NID (default 127.0.0.1@tcp for a loopback MDS).") var source: String?

    /// The MDS's NID, or a clear error naming the option.
    func serverNID() throws(LustreError) -> NID {
        guard let mds else { throw .invalid("--mds NID is required") }
        return try NID(parsing: mds)
    }

    /// Starts a non-listening LNet on `--source` (or a NID that reaches the server).
    func startLNet(reaching server: NID) async throws(LustreError) -> LNetInstance {
        try await LNetStart.client(reaching: server, acceptPort: acceptPort, source: source)
    }
}

/// LNet for a client tool: no acceptor, on `source` or a NID that reaches `server`.
enum LNetStart {
    static func client(reaching server: NID, acceptPort: Int, source: String?) async throws(LustreError) -> LNetInstance {
        var configuration = LNetConfiguration()
        configuration.acceptPort = acceptPort
        configuration.listen = false
        let local: NID
        if let source {
            local = try NID(parsing: source)
        } else if server.address >> 24 == 127 {
            local = NID(address: 0x7f00_0001)
        } else {
            local = try LNetNetworks.localNIDs().first ?? server
        }
        return try await LNetInstance.start(nid: local, configuration: configuration)
    }
}

/// One connected MDC with the LNet under it, and a count of MDS restarts seen (LNet reports a
/// peer that came back with a new incarnation), which the storm uses to tell which replies
/// came from which MDS instance.
final class MDSSession: Sendable {
    let lnet: LNetInstance
    let mdc: MDCDevice
    let server: NID
    let root: LustreFID
    private let restartCounter: RestartCounter
    private let observerToken: UInt64

    /// Connects to `FSNAME-MDT0000` at `--mds` and fetches the root FID.
    static func connect(_ options: MDSConnectionOptions) async throws(LustreError) -> MDSSession {
        let server = try options.serverNID()
        let target = try TargetName(fsname: options.fsname, kind: .mdt, index: 0)
        let lnet = try await options.startLNet(reaching: server)
        let mdc = MDCDevice(lnet: lnet, server: server, target: target)
        let counter = RestartCounter()
        let serverPID = ProcessID(nid: server)
        let token = lnet.addObserver { event in
            if case .restarted(let peer) = event, peer == serverPID { counter.increment() }
        }
        do {
            try await mdc.connect()
            let root = try await mdc.getRoot()
            return MDSSession(lnet: lnet, mdc: mdc, server: server, root: root, counter: counter, token: token)
        } catch {
            lnet.removeObserver(token)
            await lnet.shutdown()
            throw error.adding(context: "connect to \(target) at \(server)")
        }
    }

    private init(lnet: LNetInstance, mdc: MDCDevice, server: NID, root: LustreFID, counter: RestartCounter,
                 token: UInt64) {
        self.lnet = lnet
        self.mdc = mdc
        self.server = server
        self.root = root
        self.restartCounter = counter
        self.observerToken = token
    }

    /// MDS restarts seen since we connected.
    var restarts: UInt64 { restartCounter.value }

    /// Disconnects the MDC and stops LNet.
    func close() async {
        lnet.removeObserver(observerToken)
        await mdc.disconnect()
        await lnet.shutdown()
    }
}
