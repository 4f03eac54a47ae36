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

/// The MGS over real TCP: registration, config fetch, watching, persistence, bad requests.
final class MGSTests: XCTestCase {
    func testRegisteredTargetsAreFetchedByAClient() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        _ = try await register("testfs-MDT0000", nids: ["127.0.7.1@tcp"], over: raw)
        _ = try await register("testfs-OST0001", nids: ["127.0.7.3@tcp"], over: raw)
        let generation = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp", "10.1.1.2@tcp1"], over: raw)
        XCTAssertEqual(generation, 3)

        let configuration = try await mgs.mgc().fetch(fsname: "testfs")
        XCTAssertEqual(configuration.fsname, "testfs")
        XCTAssertEqual(configuration.generation, 3)
        XCTAssertEqual(configuration.mdts.map(\.name.description), ["testfs-MDT0000"])
        XCTAssertEqual(configuration.osts.map(\.name.description), ["testfs-OST0000", "testfs-OST0001"])
        XCTAssertEqual(configuration.osts[0].nids, ["127.0.7.2@tcp", "10.1.1.2@tcp1"])
        XCTAssertEqual(configuration.osts[1].index, 1)
        XCTAssertEqual(configuration.defaultLayout.stripeSize, 1 << 20)
        XCTAssertEqual(configuration.defaultLayout.stripeCount, 1)
    }

    func testUnknownFilesystemIsENOENTWithAClearMessage() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        _ = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        let mgc = try await mgs.mgc()
        do {
            _ = try await mgc.fetch(fsname: "nosuchfs")
            XCTFail("fetch of an unknown filesystem succeeded")
        } catch {
            XCTAssertEqual(error.errno, ENOENT)
            XCTAssertTrue(error.description.contains("nosuchfs"), "\(error)")
        }
    }

    func testUnreachableMGSFailsInsteadOfHanging() async throws {
        let mgs = try await makeMGS()
        await mgs.stopServer()
        let mgc = MGCClient(lnet: try await mgs.clientLNet(0), nodes: [MDSTestNet.mdsNID], recoveryTimeout: 2)
        do {
            _ = try await mgc.fetch(fsname: "testfs")
            XCTFail("fetch from a stopped MGS succeeded")
        } catch {
            XCTAssertNotEqual(error.errno, 0)
        }
    }

    func testWatchingClientLearnsOfAnOSTAddedLater() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        _ = try await register("testfs-MDT0000", nids: ["127.0.7.1@tcp"], over: raw)
        _ = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        let mgc = try await mgs.mgc()
        let first = try await mgc.fetch(fsname: "testfs")
        XCTAssertEqual(first.osts.count, 1)

        let seen = Mutex<[FilesystemConfiguration]>([])
        let arrived = expectation(description: "new configuration")
        let watch = mgc.watch(fsname: "testfs", knownGeneration: first.generation) { configuration in
            seen.withLock { $0.append(configuration) }
            arrived.fulfill()
        }
        defer { watch.cancel() }
        // Give the watch time to be held at the MGS, so the wake-up path is what is tested.
        try await Task.sleep(for: .milliseconds(300))
        _ = try await register("testfs-OST0001", nids: ["127.0.7.3@tcp"], over: raw)
        await fulfillment(of: [arrived], timeout: 10)
        let latest = try XCTUnwrap(seen.withLock { $0.last })
        XCTAssertEqual(latest.osts.map(\.name.description), ["testfs-OST0000", "testfs-OST0001"])
        XCTAssertGreaterThan(latest.generation, first.generation)
    }

    func testRegisteringAgainWithTheSameNIDsChangesNothing() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        let first = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        let again = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        XCTAssertEqual(first, again)
        let moved = try await register("testfs-OST0000", nids: ["127.0.7.9@tcp"], over: raw)
        XCTAssertEqual(moved, first + 1)
        let configuration = try await mgs.mgc().fetch(fsname: "testfs")
        XCTAssertEqual(configuration.osts.map(\.nids), [["127.0.7.9@tcp"]])
    }

    func testConfigurationSurvivesAnMGSRestart() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        _ = try await register("testfs-MDT0000", nids: ["127.0.7.1@tcp"], over: raw)
        let generation = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        await raw.disconnect()
        await mgs.stopServer()

        let text = try String(contentsOfFile: mgs.root + "/CONFIGS/testfs-client", encoding: .utf8)
        XCTAssertTrue(text.contains("\ntarget testfs-OST0000 127.0.7.2@tcp\n"), text)
        XCTAssertTrue(text.contains("\ngeneration \(generation)\n"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: mgs.root + "/CONFIGS/.testfs-client.tmp"))

        try await mgs.startServer()
        let configuration = try await mgs.mgc(client: 2).fetch(fsname: "testfs")
        XCTAssertEqual(configuration.generation, generation)
        XCTAssertEqual(configuration.osts.map(\.name.description), ["testfs-OST0000"])
        XCTAssertEqual(configuration.mdts.first?.nids, ["127.0.7.1@tcp"])
    }

    func testCorruptConfigurationFileIsRefusedNamingTheLine() async throws {
        let mgs = try await makeMGS()
        await mgs.stopServer()
        let path = mgs.root + "/CONFIGS/testfs-client"
        try "fsname testfs\ngeneration 2\ntarget testfs-OSTzzzz 1.2.3.4@tcp\n".write(toFile: path, atomically: true,
                                                                                   encoding: .utf8)
        do {
            _ = try await MGSDevice.open(root: mgs.root)
            XCTFail("a corrupt configuration was loaded")
        } catch {
            XCTAssertEqual(error.errno, EINVAL)
            XCTAssertTrue(error.description.contains("line 3"), "\(error)")
        }
    }

    func testMalformedAndUnknownRequestsAreAnsweredAndTheMGSKeepsServing() async throws {
        let mgs = try await makeMGS()
        let raw = try await mgs.rawImport()
        let garbage = try await raw.call(opcode: MGSOpcode.targetRegister.rawValue,
                                         buffers: [ByteBuffer(bytes: [1, 2, 3, 4, 5, 6, 7])])
        XCTAssertEqual(garbage.reply.status, -EPROTO)
        let missing = try await raw.call(opcode: MGSOpcode.configRead.rawValue, buffers: [])
        XCTAssertEqual(missing.reply.status, -EPROTO)
        let unknown = try await raw.call(opcode: 4242, buffers: [])
        XCTAssertEqual(unknown.reply.status, -EOPNOTSUPP)
        var huge = ByteBuffer()
        huge.writeInteger(UInt32.max, endianness: .little)
        let lying = try await raw.call(opcode: MGSOpcode.configRead.rawValue, buffers: [huge])
        XCTAssertEqual(lying.reply.status, -EPROTO)

        _ = try await register("testfs-OST0000", nids: ["127.0.7.2@tcp"], over: raw)
        let configuration = try await mgs.mgc().fetch(fsname: "testfs")
        XCTAssertEqual(configuration.osts.count, 1)
    }

    func testARegistrationThatCouldNotBeSavedIsSavedWhenRetried() async throws {
        let mgs = try await makeMGS()
        let device = try XCTUnwrap(mgs.device)
        let name = try TargetName(parsing: "testfs-OST0000")
        let blocker = mgs.root + "/CONFIGS/.testfs-client.tmp"
        XCTAssertEqual(mkdir(blocker, 0o755), 0)
        await assertErrno(EISDIR) { try await device.register(name, nids: ["127.0.7.2@tcp"]) }
        XCTAssertEqual(rmdir(blocker), 0)
        try await device.register(name, nids: ["127.0.7.2@tcp"])
        let text = try String(contentsOfFile: mgs.root + "/CONFIGS/testfs-client", encoding: .utf8)
        XCTAssertTrue(text.contains("target testfs-OST0000 127.0.7.2@tcp"), text)
    }

    func testInProcessSubscriberSeesEachRegistration() async throws {
        let mgs = try await makeMGS()
        let device = try XCTUnwrap(mgs.device)
        let seen = Mutex<[String]>([])
        let token = device.subscribe { configuration in
            seen.withLock { $0.append(configuration.osts.map(\.name.description).joined(separator: ",")) }
        }
        defer { device.unsubscribe(token) }
        try await device.register(try TargetName(parsing: "testfs-OST0000"), nids: ["127.0.7.2@tcp"])
        try await device.register(try TargetName(parsing: "testfs-OST0001"), nids: ["127.0.7.3@tcp"])
        try await device.register(try TargetName(parsing: "testfs-OST0001"), nids: ["127.0.7.3@tcp"])
        XCTAssertEqual(seen.withLock { $0 }, ["testfs-OST0000", "testfs-OST0000,testfs-OST0001"])
    }
}
