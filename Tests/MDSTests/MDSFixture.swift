import LNet
import LibCFS
import LustreTestSupport
import MDC
@testable import MDT
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

/// A whole metadata stack in this process over loopback TCP, wired as `lustre-mds` wires it:
/// one LNet on `MDSTestNet.mdsNID` serving the MGS and the MDT, a LOD fed with OSTs as they
/// register at the MGS, two OSSes (OSD + OFD) on their own NIDs that register their OSTs, and
/// MDC clients on client NIDs.
final class MDSFixture: Sendable {
    let port: Int
    let directory: String
    private struct OSS {
        var lnet: LNetInstance
        var service: OFDService
        var osd: OSDDevice
    }
    private struct MDS {
        var lnet: LNetInstance
        var mgs: MGSDevice
        var mgsService: MGSService
        var lod: LODDevice
        var mdt: MDTDevice
        var mdtService: MDTService
        var subscription: UInt64
    }
    private let osses = Mutex<[Int: OSS]>([:])
    private let mds = Mutex<MDS?>(nil)
    private let clients = Mutex<[LNetInstance]>([])

    static let mdtName = try! TargetName(parsing: "testfs-MDT0000")
    var mdtRoot: String { "\(directory)/mdt" }
    func ostRoot(_ index: Int) -> String { "\(directory)/ost\(index)" }

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// Starts the MDS and the first `osts` OSSes (the others can be started later).
    static func start(osts: Int = MDSTestNet.ossNIDs.count) async throws -> MDSFixture {
        var template = Array("/tmp/mdstests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let directory = String(cString: made)
        mkdir("\(directory)/mdt", 0o755)
        for index in 0..<MDSTestNet.ossNIDs.count { mkdir("\(directory)/ost\(index)", 0o755) }
        var lastError: Error?
        for _ in 0..<8 {
            let fixture = MDSFixture(port: Int.random(in: 20000...40000), directory: directory)
            do {
                try await fixture.startMDS()
                for index in 0..<osts { try await fixture.startOSS(index) }
                try await fixture.waitForOSTs(osts)
                return fixture
            } catch {
                lastError = error
                await fixture.tearDown(removing: false)
            }
        }
        _ = removeTree(directory)
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }

    /// Seconds between MDT group commits (long in tests that need uncommitted requests).
    let commitInterval = Mutex(0.2)

    func startMDS() async throws {
        let mgs = try await MGSDevice.open(root: mdtRoot)
        let lnet = try await LNetInstance.start(nid: MDSTestNet.mdsNID,
                                                configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        let mgsService = MGSService(lnet: lnet, device: mgs, threads: 6)
        mgsService.start()
        try await mgs.register(Self.mdtName, nids: ["\(MDSTestNet.mdsNID)"])
        var options = LODDevice.Options()
        options.qosMaxAge = 0.5
        options.createTimeout = 10
        options.ostRecoveryTimeout = 3
        options.destroyCommitWait = 0.3
        options.stopDrainTimeout = 2
        let lod = try LODDevice(lnet: lnet, root: mdtRoot, fsname: "testfs", options: options)
        let subscription = mgs.subscribe { configuration in
            for entry in configuration.osts {
                try? lod.addOST(index: entry.index, nids: entry.nids.compactMap { try? NID(parsing: $0) })
            }
        }
        // As lustre-mds: the OSTs the MGS knew before a restart, which need not register again.
        for entry in (try? mgs.configuration(fsname: "testfs"))?.osts ?? [] {
            try? lod.addOST(index: entry.index, nids: entry.nids.compactMap { try? NID(parsing: $0) })
        }
        try await lod.start(holdingLoggedDestroys: true)
        var mdtOptions = MDTDevice.Options()
        mdtOptions.commitInterval = commitInterval.withLock { $0 }
        let mdt = try await MDTDevice.open(root: mdtRoot, target: Self.mdtName, allocator: lod, options: mdtOptions)
        let mdtService = MDTService(lnet: lnet, device: mdt, threads: 8)
        mdtService.start()
        mds.withLock { $0 = MDS(lnet: lnet, mgs: mgs, mgsService: mgsService, lod: lod, mdt: mdt,
                                mdtService: mdtService, subscription: subscription) }
    }

    func stopMDS() async {
        guard let running = mds.withLock({ value in defer { value = nil }; return value }) else { return }
        running.mgs.unsubscribe(running.subscription)
        await running.mdtService.stop()
        await running.mgsService.stop()
        await running.mdt.close()
        await running.lod.stop()
        await running.lnet.shutdown()
    }

    /// Stops the MDS as SIGKILL would: nothing more is committed, the log is not trimmed.
    func crashMDS() async {
        guard let running = mds.withLock({ value in defer { value = nil }; return value }) else { return }
        running.mgs.unsubscribe(running.subscription)
        running.mdt.simulateCrash()
        await running.lnet.shutdown()
        await running.mdtService.stop()
        await running.mgsService.stop()
        await running.lod.crash()
    }

    /// Starts OSS `index` and registers its OST at the MGS over the wire, as lustre-oss does.
    func startOSS(_ index: Int) async throws {
        var options = OSDDevice.Options()
        options.commitInterval = 0.2
        let osd = try await OSDDevice.open(root: ostRoot(index), options: options)
        let lnet: LNetInstance
        do {
            lnet = try await LNetInstance.start(nid: MDSTestNet.ossNIDs[index],
                                                configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        } catch {
            await osd.close()
            throw error
        }
        let name = try TargetName(fsname: "testfs", kind: .ost, index: UInt32(index))
        let service = OFDService(lnet: lnet, targets: [OFDTarget(name: name, osd: osd)], threads: 4)
        service.start()
        osses.withLock { $0[index] = OSS(lnet: lnet, service: service, osd: osd) }
        var configuration = PtlRPCImport.Configuration(portals: MGSService.portals, connectOpcode: Opcode.mgsConnect,
                                                       disconnectOpcode: Opcode.mgsDisconnect)
        configuration.recoveryTimeout = 10
        let mgc = PtlRPCImport(lnet: lnet, target: ProcessID(nid: MDSTestNet.mdsNID), targetName: "MGS",
                               configuration: configuration)
        try await mgc.connect()
        let request = MGSTargetRegistration(target: name, nids: ["\(MDSTestNet.ossNIDs[index])"])
        let response = try await mgc.call(opcode: MGSOpcode.targetRegister.rawValue, buffers: [request.encoded()])
        await mgc.disconnect()
        guard response.reply.status == 0 else { throw LustreError(status: response.reply.status, "register \(name)") }
    }

    func stopOSS(_ index: Int) async {
        guard let oss = osses.withLock({ $0.removeValue(forKey: index) }) else { return }
        await oss.service.stop()
        for target in oss.service.targets { target.unregister() }
        await oss.lnet.shutdown()
        await oss.osd.close()
    }

    /// Waits until the LOD can allocate on `count` OSTs.
    func waitForOSTs(_ count: Int) async throws {
        guard let lod = mds.withLock({ $0?.lod }) else { return }
        let deadline = ContinuousClock.now + .seconds(15)
        while lod.usableOSTCount < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        guard lod.usableOSTCount >= count else {
            throw LustreError(errno: ETIMEDOUT, "OSTs not usable by the LOD after 15 s")
        }
    }

    var mdtService: MDTService? { mds.withLock { $0?.mdtService } }
    var mdt: MDTDevice? { mds.withLock { $0?.mdt } }

    /// An MGC of client NID number `client`, for the MGS of this MDS.
    func mgc(client: Int = 0) async throws -> MGCClient {
        MGCClient(lnet: try await clientLNet(client), nodes: [MDSTestNet.mdsNID], recoveryTimeout: 10)
    }

    func clientLNet(_ index: Int) async throws -> LNetInstance {
        let nid = MDSTestNet.clientNIDs[index]
        if let existing = clients.withLock({ $0.first { $0.nid == nid } }) { return existing }
        let lnet = try await LNetInstance.start(nid: nid, configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
        clients.withLock { $0.append(lnet) }
        return lnet
    }

    /// A connected MDC from client NID number `client`.
    func mdc(client: Int = 0, target: TargetName = MDSFixture.mdtName) async throws -> MDCDevice {
        var configuration = MDCDevice.Configuration()
        configuration.minTimeout = 1
        configuration.recoveryTimeout = 20
        let mdc = MDCDevice(lnet: try await clientLNet(client), server: MDSTestNet.mdsNID, target: target,
                            configuration: configuration)
        try await mdc.connect()
        return mdc
    }

    /// A bare import to the MDT service, to send requests the MDC would never build.
    func rawImport(client: Int = 1) async throws -> PtlRPCImport {
        var configuration = PtlRPCImport.Configuration(portals: MDTService.portals, connectOpcode: Opcode.mdsConnect,
                                                       disconnectOpcode: Opcode.mdsDisconnect)
        configuration.minTimeout = 1
        configuration.recoveryTimeout = 10
        let rpcImport = PtlRPCImport(lnet: try await clientLNet(client), target: ProcessID(nid: MDSTestNet.mdsNID),
                                     targetName: Self.mdtName.uuid, configuration: configuration)
        try await rpcImport.connect()
        return rpcImport
    }

    func objectExists(_ object: LayoutObject) -> Bool {
        var st = stat()
        return stat("\(ostRoot(Int(object.ostIndex)))/\(object.id.path)", &st) == 0
    }

    func tearDown(removing: Bool = true) async {
        for client in clients.withLock({ $0 }) { await client.shutdown() }
        await stopMDS()
        for index in osses.withLock({ Array($0.keys) }) { await stopOSS(index) }
        if removing { _ = removeTree(directory) }
    }
}

extension XCTestCase {
    func makeMDS(osts: Int = MDSTestNet.ossNIDs.count) async throws -> MDSFixture {
        let fixture = try await MDSFixture.start(osts: osts)
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }
}
