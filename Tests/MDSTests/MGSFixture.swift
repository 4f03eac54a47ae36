import LNet
import LibCFS
import LustreTestSupport
import MDC
import MGS
import NIOCore
import ObdClass
import PtlRPC
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Addresses of the MDS tests (127.0.7.x): the MGS/MDS, two OSSes, and clients.
enum MDSTestNet {
    static let mdsNID = NID(address: 0x7f00_0701)
    static let ossNIDs = [NID(address: 0x7f00_0702), NID(address: 0x7f00_0703)]
    static let clientNIDs = [NID(address: 0x7f00_070a), NID(address: 0x7f00_070b), NID(address: 0x7f00_070c)]

}

/// An MGS in this process on `MDSTestNet.mdsNID`, its target a temporary directory, and client
/// LNet instances on their own NIDs, over loopback TCP on a random port.
final class MGSFixture: Sendable {
    let port: Int
    let directory: String
    private struct Server {
        var lnet: LNetInstance
        var device: MGSDevice
        var service: MGSService
    }
    private let server = Mutex<Server?>(nil)
    private let clients = Mutex<[LNetInstance]>([])

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    static func start() async throws -> MGSFixture {
        var template = Array("/tmp/mdstests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let directory = String(cString: made)
        var lastError: Error?
        for _ in 0..<8 {
            let fixture = MGSFixture(port: Int.random(in: 20000...40000), directory: directory)
            do {
                try await fixture.startServer()
                return fixture
            } catch {
                lastError = error
            }
        }
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }

    var root: String { directory + "/mgs" }

    func startServer() async throws {
        mkdir(root, 0o755)
        let device = try await MGSDevice.open(root: root)
        let lnet = try await LNetInstance.start(nid: MDSTestNet.mdsNID,
                                                configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        let service = MGSService(lnet: lnet, device: device, threads: 6)
        service.start()
        server.withLock { $0 = Server(lnet: lnet, device: device, service: service) }
    }

    func stopServer() async {
        guard let running = server.withLock({ value in defer { value = nil }; return value }) else { return }
        await running.service.stop()
        await running.lnet.shutdown()
    }

    var device: MGSDevice? { server.withLock { $0?.device } }

    func clientLNet(_ index: Int) async throws -> LNetInstance {
        let nid = MDSTestNet.clientNIDs[index]
        if let existing = clients.withLock({ $0.first { $0.nid == nid } }) { return existing }
        let lnet = try await LNetInstance.start(nid: nid, configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
        clients.withLock { $0.append(lnet) }
        return lnet
    }

    func mgc(client: Int = 0) async throws -> MGCClient {
        MGCClient(lnet: try await clientLNet(client), nodes: [MDSTestNet.mdsNID], recoveryTimeout: 10)
    }

    /// A bare import to the MGS, to send registrations and requests no MGC would build.
    func rawImport(client: Int = 1) async throws -> PtlRPCImport {
        var configuration = PtlRPCImport.Configuration(portals: MGSService.portals, connectOpcode: Opcode.mgsConnect,
                                                       disconnectOpcode: Opcode.mgsDisconnect)
        configuration.minTimeout = 1
        configuration.recoveryTimeout = 10
        let rpcImport = PtlRPCImport(lnet: try await clientLNet(client), target: ProcessID(nid: MDSTestNet.mdsNID),
                                     targetName: "MGS", configuration: configuration)
        try await rpcImport.connect()
        return rpcImport
    }

    func tearDown() async {
        for client in clients.withLock({ $0 }) { await client.shutdown() }
        await stopServer()
        _ = removeTree(directory)
    }
}


extension XCTestCase {
    func makeMGS() async throws -> MGSFixture {
        let fixture = try await MGSFixture.start()
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }


    /// Registers `target` at `nids` through the wire, as an OSS does.
    func register(_ target: String, nids: [String], over rpcImport: PtlRPCImport) async throws -> UInt64 {
        let request = MGSTargetRegistration(target: try TargetName(parsing: target), nids: nids)
        let response = try await rpcImport.call(opcode: MGSOpcode.targetRegister.rawValue, buffers: [request.encoded()])
        guard response.reply.status >= 0 else { throw LustreError(status: response.reply.status, "register \(target)") }
        var body = try response.reply.buffer(0, "registration reply")
        return try MGSTargetRegistrationReply(decoding: &body).generation
    }
}
