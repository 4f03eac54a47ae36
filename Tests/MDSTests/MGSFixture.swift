import LNet
import LibCFS
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

    static func lnetConfiguration(port: Int, listen: Bool) -> LNetConfiguration {
        var configuration = LNetConfiguration()
        configuration.acceptPort = port
        configuration.listen = listen
        configuration.connectTimeout = 2
        configuration.transactionTimeout = 10
        configuration.minReconnectMilliseconds = 20
        configuration.maxReconnectMilliseconds = 200
        return configuration
    }
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
                                                configuration: MDSTestNet.lnetConfiguration(port: port, listen: true))
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
        let lnet = try await LNetInstance.start(nid: nid, configuration: MDSTestNet.lnetConfiguration(port: port, listen: false))
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

/// Removes a directory tree (test scratch only).
@discardableResult
func removeTree(_ path: String) -> Int32 {
    var status: Int32 = 0
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = [strdup("rm"), strdup("-rf"), strdup(path), nil]
    defer { for argument in argv { free(argument) } }
    guard posix_spawnp(&pid, "rm", nil, nil, argv, environ) == 0 else { return -1 }
    waitpid(pid, &status, 0)
    return status
}

extension XCTestCase {
    func makeMGS() async throws -> MGSFixture {
        let fixture = try await MGSFixture.start()
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }

    /// Asserts that `body` throws a LustreError with `errno`.
    func assertErrno<T>(_ errno: Int32, _ body: () async throws -> T, file: StaticString = #filePath,
                        line: UInt = #line) async {
        do {
            _ = try await body()
            XCTFail("expected errno \(errno), got success", file: file, line: line)
        } catch let error as LustreError {
            XCTAssertEqual(error.errno, errno, "\(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
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
