import LNet
import LibCFS
import LustreTestSupport
import NIOCore
import OFD
import OSC
import OSD
import ObdClass
import PtlRPC
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// An OSS in this process: LNet on `serverNID`, an OFD service with one or more targets, each on
/// an OSD in its own temporary directory; and OSC clients on their own NIDs, over loopback TCP.
final class OSSFixture: Sendable {
    static let serverNID = NID(address: 0x7f00_0402)     // 127.0.4.2
    static let clientNIDs = [NID(address: 0x7f00_0403), NID(address: 0x7f00_0404)]

    let port: Int
    let directory: String
    let names: [TargetName]
    /// Seconds between the OSDs' background commits; 0: commits only when asked.
    let commitInterval: Double
    private struct Server {
        var lnet: LNetInstance
        var service: OFDService
        var osds: [OSDDevice]
    }
    private let server = Mutex<Server?>(nil)
    private let clients = Mutex<[LNetInstance]>([])

    private init(port: Int, directory: String, names: [TargetName], commitInterval: Double) {
        self.port = port
        self.directory = directory
        self.names = names
        self.commitInterval = commitInterval
    }

    /// Starts an OSS serving `targets` on a free random port.
    static func start(targets: [String] = ["testfs-OST0000"], commitInterval: Double = 0.2) async throws -> OSSFixture {
        var template = Array("/tmp/ofdtests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let directory = String(cString: made)
        let names = try targets.map { try TargetName(parsing: $0) }
        var lastError: Error?
        for _ in 0..<8 {
            let fixture = OSSFixture(port: Int.random(in: 20000...40000), directory: directory, names: names,
                                     commitInterval: commitInterval)
            do {
                try await fixture.startServer()
                return fixture
            } catch {
                lastError = error
            }
        }
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }


    /// (Re)starts the server half: the OSDs are opened again from their directories.
    func startServer() async throws {
        var osds: [OSDDevice] = []
        for name in names {
            let root = "\(directory)/\(name)"
            mkdir(root, 0o755)
            var options = OSDDevice.Options()
            options.commitInterval = commitInterval
            osds.append(try await OSDDevice.open(root: root, options: options))
        }
        let lnet: LNetInstance
        do {
            lnet = try await LNetInstance.start(nid: Self.serverNID, configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        } catch {
            for osd in osds { await osd.close() }
            throw error
        }
        let targets = zip(names, osds).map { OFDTarget(name: $0, osd: $1) }
        let service = OFDService(lnet: lnet, targets: targets, threads: 8)
        service.start()
        server.withLock { $0 = Server(lnet: lnet, service: service, osds: osds) }
    }

    /// Stops the server half as a clean shutdown would.
    func stopServer() async {
        guard let running = server.withLock({ value in defer { value = nil }; return value }) else { return }
        await running.service.stop()
        for target in running.service.targets { target.unregister() }
        await running.lnet.shutdown()
        for osd in running.osds { await osd.close() }
    }

    var service: OFDService? { server.withLock { $0?.service } }

    /// A connected OSC for `target` from client NID number `client`.
    func osc(_ target: String = "testfs-OST0000", client: Int = 0,
             configure: (inout OSCDevice.Configuration) -> Void = { _ in }) async throws -> OSCDevice {
        let lnet = try await clientLNet(client)
        var configuration = OSCDevice.Configuration()
        configuration.minTimeout = 1
        configuration.recoveryTimeout = 20
        configure(&configuration)
        let osc = try OSCDevice(lnet: lnet, server: Self.serverNID, target: try TargetName(parsing: target),
                                configuration: configuration)
        try await osc.connect()
        return osc
    }

    /// A bare import to the OST service, to send requests the OSC would never build;
    /// `connectData`: the third buffer of its connects.
    func rawImport(_ target: String = "testfs-OST0000", client: Int = 1,
                   connectData: ByteBuffer? = nil) async throws -> PtlRPCImport {
        let lnet = try await clientLNet(client)
        var configuration = PtlRPCImport.Configuration(portals: OFDService.portals, connectOpcode: Opcode.ostConnect,
                                                       disconnectOpcode: Opcode.ostDisconnect)
        configuration.minTimeout = 1
        configuration.recoveryTimeout = 10
        let rpcImport = PtlRPCImport(lnet: lnet, target: ProcessID(nid: Self.serverNID),
                                     targetName: try TargetName(parsing: target).uuid, configuration: configuration)
        if let connectData { rpcImport.onConnect(request: { connectData }, answer: { _, _ in }) }
        try await rpcImport.connect()
        return rpcImport
    }

    /// Client `index`'s LNet goes away without a word to the OSS: a client node that died.
    func killClient(_ index: Int) async throws {
        let lnet = try await clientLNet(index)
        clients.withLock { $0.removeAll { $0 === lnet } }
        await lnet.shutdown()
    }

    private func clientLNet(_ index: Int) async throws -> LNetInstance {
        let nid = Self.clientNIDs[index]
        if let existing = clients.withLock({ $0.first { $0.nid == nid } }) { return existing }
        let lnet = try await LNetInstance.start(nid: nid, configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
        clients.withLock { $0.append(lnet) }
        return lnet
    }

    func tearDown() async {
        FailLoc.value = 0
        for client in clients.withLock({ $0 }) { await client.shutdown() }
        await stopServer()
        _ = removeTree(directory)
    }
}


/// Deterministic bytes for checking what comes back.
func pattern(_ length: Int, seed: UInt64) -> ByteBuffer {
    var state = seed &+ 0x9e37_79b9_7f4a_7c15
    var buffer = ByteBufferAllocator().buffer(capacity: length)
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
        var index = 0
        while index < length {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            var word = state
            for _ in 0..<min(8, length - index) {
                raw[index] = UInt8(truncatingIfNeeded: word >> 56)
                word <<= 8
                index += 1
            }
        }
        return length
    }
    return buffer
}

func encode(_ attributes: ObdAttributes) -> ByteBuffer {
    var buffer = ByteBuffer()
    attributes.encode(into: &buffer)
    return buffer
}

func obdo(_ id: OSTObjectID) -> ObdAttributes {
    var attributes = ObdAttributes()
    attributes.valid = [.id, .groupID]
    attributes.id = id
    return attributes
}

extension XCTestCase {
    /// An OSS torn down with the test.
    func makeOSS(targets: [String] = ["testfs-OST0000"], commitInterval: Double = 0.2) async throws -> OSSFixture {
        let fixture = try await OSSFixture.start(targets: targets, commitInterval: commitInterval)
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }

}
