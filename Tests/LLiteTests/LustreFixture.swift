import LLite
import LNet
import LustreTestSupport
import LibCFS
import MDT
import MGS
import NIOCore
import OFD
import OSD
import ObdClass
import PtlRPC
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A whole filesystem in this process over loopback TCP on a random port: the MGS and MDT0000
/// (with its LOD) on 127.0.8.1, OST0000 on an OSS at 127.0.8.2 and OST0001 on one at 127.0.8.3,
/// each target in its own temporary directory; clients mount from 127.0.8.10 and up.
final class LustreFixture: Sendable {
    static let fsname = "lltest"
    static let mdsNID = NID(address: 0x7f00_0801)
    static let ossNIDs = [NID(address: 0x7f00_0802), NID(address: 0x7f00_0803)]
    static let clientNIDs = (0..<4).map { NID(address: 0x7f00_080a + UInt32($0)) }

    let port: Int
    let directory: String
    private struct Servers {
        var mdsLNet: LNetInstance
        var mgs: MGSDevice
        var mgsService: MGSService
        var lod: LODDevice
        var mdt: MDTDevice
        var mdtService: MDTService
        var oss: [(lnet: LNetInstance, service: OFDService, osd: OSDDevice)]
    }
    private let servers = Mutex<Servers?>(nil)
    private let clients = Mutex<[LustreClient]>([])

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }


    static func start() async throws -> LustreFixture {
        var template = Array("/tmp/llitetests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let directory = String(cString: made)
        var lastError: Error?
        for _ in 0..<8 {
            let fixture = LustreFixture(port: Int.random(in: 20000...40000), directory: directory)
            do {
                try await fixture.startServers()
                return fixture
            } catch {
                lastError = error
                await fixture.stopServers()
            }
        }
        _ = removeTree(directory)
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }

    private func startServers() async throws {
        var oss: [(lnet: LNetInstance, service: OFDService, osd: OSDDevice)] = []
        func cleanUp() async {
            for server in oss {
                await server.service.stop()
                await server.lnet.shutdown()
                await server.osd.close()
            }
        }
        do {
            for (index, nid) in Self.ossNIDs.enumerated() {
                let name = try TargetName(parsing: "\(Self.fsname)-OST000\(index)")
                let root = "\(directory)/\(name)"
                mkdir(root, 0o755)
                var options = OSDDevice.Options()
                options.commitInterval = 0.2
                let osd = try await OSDDevice.open(root: root, options: options)
                let lnet: LNetInstance
                do {
                    lnet = try await LNetInstance.start(nid: nid, configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
                } catch {
                    await osd.close()
                    throw error
                }
                let service = OFDService(lnet: lnet, targets: [OFDTarget(name: name, osd: osd)], threads: 8)
                service.start()
                oss.append((lnet, service, osd))
            }
        } catch {
            await cleanUp()
            throw error
        }
        let root = "\(directory)/mds"
        mkdir(root, 0o755)
        let mdtName = try TargetName(parsing: "\(Self.fsname)-MDT0000")
        let mgs: MGSDevice
        let lnet: LNetInstance
        do {
            mgs = try await MGSDevice.open(root: root)
            lnet = try await LNetInstance.start(nid: Self.mdsNID, configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        } catch {
            await cleanUp()
            throw error
        }
        let mgsService = MGSService(lnet: lnet, device: mgs, threads: 4)
        mgsService.start()
        do {
            _ = try await mgs.register(mdtName, nids: ["\(Self.mdsNID)"])
            for (index, nid) in Self.ossNIDs.enumerated() {
                _ = try await mgs.register(try TargetName(parsing: "\(Self.fsname)-OST000\(index)"), nids: ["\(nid)"])
            }
            var lodOptions = LODDevice.Options()
            lodOptions.precreateMinBatch = 8
            let lod = try LODDevice(lnet: lnet, root: root, fsname: Self.fsname, options: lodOptions)
            for (index, nid) in Self.ossNIDs.enumerated() { try lod.addOST(index: UInt32(index), nids: [nid]) }
            try await lod.start()
            var mdtOptions = MDTDevice.Options()
            mdtOptions.commitInterval = 0.2
            let mdt = try await MDTDevice.open(root: root, target: mdtName, allocator: lod, options: mdtOptions)
            let mdtService = MDTService(lnet: lnet, device: mdt, threads: 8)
            mdtService.start()
            // Files get every stripe they ask for only once both OSTs can allocate objects.
            for _ in 0..<500 where lod.usableOSTCount < Self.ossNIDs.count { try await Task.sleep(nanoseconds: 10_000_000) }
            servers.withLock {
                $0 = Servers(mdsLNet: lnet, mgs: mgs, mgsService: mgsService, lod: lod, mdt: mdt, mdtService: mdtService,
                             oss: oss)
            }
        } catch {
            await mgsService.stop()
            await lnet.shutdown()
            await cleanUp()
            throw error
        }
    }

    /// Starts one more OSS, on 127.0.8.4, serving OST `index`, and registers it at the MGS as
    /// lustre-oss does: mounted clients learn it from the configuration they watch.
    func addOST(index: UInt32) async throws {
        let name = try TargetName(fsname: Self.fsname, kind: .ost, index: index)
        let nid = NID(address: 0x7f00_0804)
        let root = "\(directory)/\(name)"
        mkdir(root, 0o755)
        var options = OSDDevice.Options()
        options.commitInterval = 0.2
        let osd = try await OSDDevice.open(root: root, options: options)
        let lnet = try await LNetInstance.start(nid: nid, configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        let service = OFDService(lnet: lnet, targets: [OFDTarget(name: name, osd: osd)], threads: 4)
        service.start()
        guard let mgs = servers.withLock({ servers -> MGSDevice? in
            servers?.oss.append((lnet, service, osd))
            return servers?.mgs
        }) else { throw LustreError(errno: ESHUTDOWN, "servers stopped") }
        _ = try await mgs.register(name, nids: ["\(nid)"])
    }

    private func stopServers() async {
        guard let running = servers.withLock({ value in defer { value = nil }; return value }) else { return }
        await running.mdtService.stop()
        await running.mgsService.stop()
        await running.mdt.close()
        await running.lod.stop()
        await running.mdsLNet.shutdown()
        for server in running.oss {
            await server.service.stop()
            // The next fixture's targets have the same names: their parameters must be theirs.
            for target in server.service.targets { target.unregister() }
            await server.lnet.shutdown()
            await server.osd.close()
        }
    }

    /// Client options for client number `client` of this fixture.
    func options(client: Int = 0) -> LustreClient.Options {
        var options = LustreClient.Options()
        options.acceptPort = port
        options.localNID = Self.clientNIDs[client]
        options.mountTimeout = 20
        options.recoveryTimeout = 20
        options.minTimeout = 1
        return options
    }

    /// A mounted client (number `client` picks its NID), unmounted at tear-down if still mounted.
    func mount(client: Int = 0, configure: (inout LustreClient.Options) -> Void = { _ in }) async throws -> LustreClient {
        var options = options(client: client)
        configure(&options)
        let mounted = try await LustreClient.mount(mgs: [Self.mdsNID], fsname: Self.fsname, options: options)
        clients.withLock { $0.append(mounted) }
        return mounted
    }

    func tearDown() async {
        for client in clients.withLock({ $0 }) { try? await client.unmount() }
        await stopServers()
        _ = removeTree(directory)
    }
}


/// Deterministic bytes for checking what comes back.
func pattern(_ length: Int, seed: UInt64) -> [UInt8] {
    var state = seed &+ 0x9e37_79b9_7f4a_7c15
    var bytes = [UInt8](repeating: 0, count: length)
    for index in 0..<length {
        if index % 8 == 0 { state = state &* 6364136223846793005 &+ 1442695040888963407 }
        bytes[index] = UInt8(truncatingIfNeeded: state >> (56 - 8 * UInt64(index % 8)))
    }
    return bytes
}

extension XCTestCase {
    /// A filesystem torn down with the test.
    func makeFilesystem() async throws -> LustreFixture {
        let fixture = try await LustreFixture.start()
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }

}
