import LNet
import LibCFS
import LustreTestSupport
import MDT
import OFD
import OSD
import ObdClass
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Two OSSes in this process, each serving one OST from its own temporary directory, on
/// 127.0.9.2 and 127.0.9.3, and the MDS side's LNet on 127.0.9.1; plus an MDT root for the LOD.
/// `smallOST` puts that OST's directory on a small tmpfs so its free space is far below the
/// other's.
final class LODOSSFixture: Sendable {
    static let mdsNID = NID(address: 0x7f00_0901)
    static let ossNIDs = [NID(address: 0x7f00_0902), NID(address: 0x7f00_0903)]

    let port: Int
    let directory: String
    let mdsLNet: LNetInstance
    private let tmpfsMounts: [String]
    private struct Server {
        var lnet: LNetInstance
        var service: OFDService
        var osd: OSDDevice
    }
    private let servers = Mutex<[Int: Server]>([:])

    var mdtRoot: String { "\(directory)/mdt" }
    func ostRoot(_ index: Int) -> String { "\(directory)/ost\(index)" }
    func ostName(_ index: Int) -> TargetName { try! TargetName(fsname: "testfs", kind: .ost, index: UInt32(index)) }

    private init(port: Int, directory: String, mdsLNet: LNetInstance, tmpfsMounts: [String]) {
        self.port = port
        self.directory = directory
        self.mdsLNet = mdsLNet
        self.tmpfsMounts = tmpfsMounts
    }

    static func start(smallOST: Int? = nil) async throws -> LODOSSFixture {
        var template = Array("/tmp/lodtests.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        let directory = String(cString: made)
        var mounts: [String] = []
        for index in 0..<ossNIDs.count {
            mkdir("\(directory)/ost\(index)", 0o755)
        }
        mkdir("\(directory)/mdt", 0o755)
        if let smallOST {
            let path = "\(directory)/ost\(smallOST)"
            guard run(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", path]) == 0 else {
                throw XCTSkip("cannot mount a tmpfs for the small OST (not root?)")
            }
            mounts.append(path)
        }
        var lastError: Error?
        for _ in 0..<8 {
            let port = Int.random(in: 20000...40000)
            do {
                let mdsLNet = try await LNetInstance.start(nid: mdsNID, configuration: TestNetwork.lnetConfiguration(port: port, listen: false))
                let fixture = LODOSSFixture(port: port, directory: directory, mdsLNet: mdsLNet, tmpfsMounts: mounts)
                do {
                    for index in 0..<ossNIDs.count { try await fixture.startOSS(index) }
                } catch {
                    await fixture.tearDown(removing: false)
                    throw error
                }
                return fixture
            } catch {
                lastError = error
            }
        }
        for mount in mounts { run(["umount", mount]) }
        run(["rm", "-rf", directory])
        throw lastError ?? LustreError(errno: EADDRINUSE, "no free port")
    }


    /// Starts (or restarts) OSS `index` serving `testfs-OST000<index>`.
    func startOSS(_ index: Int) async throws {
        var options = OSDDevice.Options()
        options.commitInterval = 0.2
        let osd = try await OSDDevice.open(root: ostRoot(index), options: options)
        let lnet: LNetInstance
        do {
            lnet = try await LNetInstance.start(nid: Self.ossNIDs[index], configuration: TestNetwork.lnetConfiguration(port: port, listen: true))
        } catch {
            await osd.close()
            throw error
        }
        let service = OFDService(lnet: lnet, targets: [OFDTarget(name: ostName(index), osd: osd)], threads: 4)
        service.start()
        servers.withLock { $0[index] = Server(lnet: lnet, service: service, osd: osd) }
    }

    /// Stops OSS `index` as a clean shutdown would.
    func stopOSS(_ index: Int) async {
        guard let server = servers.withLock({ $0.removeValue(forKey: index) }) else { return }
        await server.service.stop()
        for target in server.service.targets { target.unregister() }
        await server.lnet.shutdown()
        await server.osd.close()
    }

    /// A LOD on the MDT root with both OSTs added, started, and (by default) both OSTs usable.
    func startLOD(waitForOSTs: Bool = true, holdingLoggedDestroys: Bool = false,
                  configure: (inout LODDevice.Options) -> Void = { _ in }) async throws -> LODDevice {
        var options = LODDevice.Options()
        options.qosMaxAge = 0.5
        options.createTimeout = 10
        options.ostRecoveryTimeout = 3
        options.destroyCommitWait = 0.3
        options.stopDrainTimeout = 5
        configure(&options)
        let lod = try LODDevice(lnet: mdsLNet, root: mdtRoot, fsname: "testfs", options: options)
        for index in 0..<Self.ossNIDs.count {
            try lod.addOST(index: UInt32(index), nids: [Self.ossNIDs[index]])
        }
        try await lod.start(holdingLoggedDestroys: holdingLoggedDestroys)
        if waitForOSTs {
            let deadline = Date().addingTimeInterval(15)
            while lod.usableOSTCount < Self.ossNIDs.count, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            XCTAssertEqual(lod.usableOSTCount, Self.ossNIDs.count, "OSTs not usable after 15 s")
        }
        return lod
    }

    /// Whether object `id` exists on OST `index`.
    func objectExists(_ id: OSTObjectID, on index: Int) -> Bool {
        var st = stat()
        return stat("\(ostRoot(index))/\(id.path)", &st) == 0
    }

    /// `OST_CREATE` RPCs OST `index` has served since it started (its `create` counter).
    func createRPCs(on index: Int) -> Int64 {
        guard let stats = servers.withLock({ $0[index]?.service.targets.first?.stats }),
              let counter = stats.counters.firstIndex(where: { $0.name == "create" }) else { return 0 }
        return stats.snapshot(counter).count
    }

    func tearDown(removing: Bool = true) async {
        for index in servers.withLock({ Array($0.keys) }) { await stopOSS(index) }
        await mdsLNet.shutdown()
        guard removing else { return }
        for mount in tmpfsMounts { Self.run(["umount", mount]) }
        Self.run(["rm", "-rf", directory])
    }

    @discardableResult
    static func run(_ arguments: [String]) -> Int32 {
        var status: Int32 = 0
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        guard posix_spawnp(&pid, arguments[0], nil, nil, argv, environ) == 0 else { return -1 }
        waitpid(pid, &status, 0)
        return status
    }
}

extension XCTestCase {
    /// Two OSSes and an MDT root, torn down with the test.
    func makeLODFixture(smallOST: Int? = nil) async throws -> LODOSSFixture {
        let fixture = try await LODOSSFixture.start(smallOST: smallOST)
        addTeardownBlock { await fixture.tearDown() }
        return fixture
    }

    /// Polls `condition` every 50 ms for up to `seconds`.
    func lodWait(_ seconds: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                 _ condition: () async -> Bool) async {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if await condition() { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("timed out waiting for \(what)", file: file, line: line)
    }
}

/// A layout request of `count` stripes (0xffff: all) starting at `offset` (0xffff: any).
func lodLayout(count: UInt16 = 1, offset: UInt16 = LustreLayout.stripeOffsetAny) -> LustreLayout {
    LustreLayout(stripeSize: 1 << 20, stripeCount: count, stripeOffset: offset)
}

/// FID number `n` in the first normal sequence.
func lodFID(_ n: UInt32) -> LustreFID {
    LustreFID(sequence: LustreFID.firstNormalSequence, objectID: n)
}
