import LibCFS
import LustreTestSupport
import MDC
import MGS
import ObdClass
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// `lctl set_param -P`: which filesystems a name belongs to, recording and deleting at the MGS,
/// and applying what the MGC learns to a process's parameter tree.
final class MGSPersistentParameterTests: XCTestCase {
    func testTheFilesystemComesFromTheDevicePartOfTheName() {
        XCTAssertEqual(MGSPersistentParameter.fsnamePattern(of: "osc.testfs-OST0000-osc-*.max_dirty_mb"), "testfs")
        XCTAssertEqual(MGSPersistentParameter.fsnamePattern(of: "llite.testfs-*.max_read_ahead_mb"), "testfs")
        XCTAssertEqual(MGSPersistentParameter.fsnamePattern(of: "mdt.*-MDT0000.identity_upcall"), "*")
        // No device part, or one naming no filesystem: every filesystem.
        XCTAssertNil(MGSPersistentParameter.fsnamePattern(of: "jobid_var"))
        XCTAssertNil(MGSPersistentParameter.fsnamePattern(of: "debug"))
        XCTAssertNil(MGSPersistentParameter.fsnamePattern(of: "lnet.debug"))
        XCTAssertNil(MGSPersistentParameter.fsnamePattern(of: "osc.*.max_dirty_mb"))
        XCTAssertNil(MGSPersistentParameter.fsnamePattern(of: "ldlm.namespaces.*.lru_size"))
    }

    func testAGlobalNameGoesToEveryFilesystemAndANamedOneOnlyToItsOwn() throws {
        let known = ["lustre", "scratch", "testfs"]
        XCTAssertEqual(try MGSPersistentParameter.filesystems(for: "jobid_var", known: known), known)
        XCTAssertEqual(try MGSPersistentParameter.filesystems(for: "osc.testfs-OST0000-osc-*.max_dirty_mb", known: known),
                       ["testfs"])
        XCTAssertEqual(try MGSPersistentParameter.filesystems(for: "mdt.s*-MDT0000.x", known: known), ["scratch"])
        XCTAssertThrowsError(try MGSPersistentParameter.filesystems(for: "llite.nosuch-*.x", known: known)) { error in
            XCTAssertEqual((error as? LustreError)?.errno, ENOENT)
            XCTAssertTrue("\(error)".contains("nosuch"), "\(error)")
        }
        XCTAssertThrowsError(try MGSPersistentParameter.filesystems(for: "debug", known: [])) { error in
            XCTAssertEqual((error as? LustreError)?.errno, ENOENT)
        }
    }

    func testSetIsDurableAndReachesTheMGCAndDeleteRemovesIt() async throws {
        let mgs = try await makeMGS()
        let device = try XCTUnwrap(mgs.device)
        try await device.register(try TargetName(parsing: "testfs-MDT0000"), nids: ["127.0.7.1@tcp"])
        try await device.register(try TargetName(parsing: "other-MDT0000"), nids: ["127.0.7.1@tcp"])

        let set = try await device.setPersistentParameter("osc.testfs-OST0000-osc-*.max_dirty_mb", value: "64")
        XCTAssertEqual(set, ["testfs"])
        let global = try await device.setPersistentParameter("jobid_var", value: "procname_uid")
        XCTAssertEqual(global, ["other", "testfs"])
        let file = try String(contentsOfFile: mgs.root + "/CONFIGS/testfs-client", encoding: .utf8)
        XCTAssertTrue(file.contains("param osc.testfs-OST0000-osc-*.max_dirty_mb=64"), file)
        let fetched = try await mgs.mgc().fetch(fsname: "testfs")
        XCTAssertEqual(fetched.parameters, ["osc.testfs-OST0000-osc-*.max_dirty_mb": "64", "jobid_var": "procname_uid"])
        XCTAssertEqual(try device.configuration(fsname: "other").parameters, ["jobid_var": "procname_uid"])

        // A filesystem registering later gets the parameters set for every filesystem, not the
        // ones named for another.
        try await device.register(try TargetName(parsing: "later-OST0000"), nids: ["127.0.7.2@tcp"])
        XCTAssertEqual(try device.configuration(fsname: "later").parameters, ["jobid_var": "procname_uid"])

        let deleted = try await device.setPersistentParameter("osc.testfs-OST0000-osc-*.max_dirty_mb", value: nil)
        XCTAssertEqual(deleted, ["testfs"])
        XCTAssertNil(try device.configuration(fsname: "testfs").parameters["osc.testfs-OST0000-osc-*.max_dirty_mb"])
        let after = try String(contentsOfFile: mgs.root + "/CONFIGS/testfs-client", encoding: .utf8)
        XCTAssertFalse(after.contains("max_dirty_mb"), after)
        // Deleting what is not there, a name of an unknown filesystem, a name that cannot be kept.
        await assertErrno(ENOENT) { try await device.setPersistentParameter("osc.testfs-*.max_dirty_mb", value: nil) }
        await assertErrno(ENOENT) { try await device.setPersistentParameter("llite.nosuch-*.x", value: "1") }
        await assertErrno(EINVAL) { try await device.setPersistentParameter("a b", value: "1") }
        await assertErrno(EINVAL) { try await device.setPersistentParameter("x", value: "two\nlines") }
    }

    func testParametersApplyToMatchingTunablesAndARefusedValueIsNotFatal() throws {
        let tree = ParamTree()
        let dirty0 = Tunable(32, range: 1...4096, unit: .mebibytes)
        let dirty1 = Tunable(32, range: 1...4096, unit: .mebibytes)
        let rpcs = Tunable(8, range: 1...256)
        try tree.register("osc.testfs-OST0000-osc-ffff.max_dirty_mb", tunable: dirty0)
        try tree.register("osc.testfs-OST0001-osc-ffff.max_dirty_mb", tunable: dirty1)
        try tree.register("osc.testfs-OST0000-osc-ffff.max_rpcs_in_flight", tunable: rpcs)
        let parameters = MGCParameters(tree: tree)
        let applied = parameters.update(configuration(generation: 2, [
            "osc.*.max_dirty_mb": "64", "osc.*.max_rpcs_in_flight": "1000", "llite.*.nothing_here": "1",
        ]))
        XCTAssertEqual(applied, ["osc.testfs-OST0000-osc-ffff.max_dirty_mb", "osc.testfs-OST0001-osc-ffff.max_dirty_mb"])
        XCTAssertEqual(dirty0.value, 64)
        XCTAssertEqual(dirty1.value, 64)
        XCTAssertEqual(rpcs.value, 8, "an out-of-range value keeps the local one")
    }

    func testADeviceRegisteredLaterGetsTheValueAndALocalChangeIsNotOverridden() throws {
        let tree = ParamTree()
        let dirty0 = Tunable(32, range: 1...4096, unit: .mebibytes)
        try tree.register("osc.testfs-OST0000-osc-ffff.max_dirty_mb", tunable: dirty0)
        let parameters = MGCParameters(tree: tree)
        parameters.update(configuration(generation: 2, ["osc.*.max_dirty_mb": "64"]))
        XCTAssertEqual(dirty0.value, 64)

        // An OSC for an OST added later, then lctl set_param on the first one.
        let dirty1 = Tunable(32, range: 1...4096, unit: .mebibytes)
        try tree.register("osc.testfs-OST0001-osc-ffff.max_dirty_mb", tunable: dirty1)
        try tree.set("osc.testfs-OST0000-osc-ffff.max_dirty_mb", value: "16")
        XCTAssertEqual(parameters.reapply(), ["osc.testfs-OST0001-osc-ffff.max_dirty_mb"])
        XCTAssertEqual(dirty1.value, 64)
        XCTAssertEqual(dirty0.value, 16, "a local set_param stands until the MGS's value changes")

        // A new value at the MGS reaches both; a deleted parameter leaves the value as it is.
        parameters.update(configuration(generation: 3, ["osc.*.max_dirty_mb": "128"]))
        XCTAssertEqual([dirty0.value, dirty1.value], [128, 128])
        XCTAssertEqual(parameters.update(configuration(generation: 4, [:])), [])
        XCTAssertEqual([dirty0.value, dirty1.value], [128, 128])

        // A device that goes and comes back under the same name gets the value again.
        tree.unregister("osc.testfs-OST0001-osc-ffff.max_dirty_mb")
        parameters.update(configuration(generation: 5, ["osc.*.max_dirty_mb": "256"]))
        let again = Tunable(32, range: 1...4096, unit: .mebibytes)
        try tree.register("osc.testfs-OST0001-osc-ffff.max_dirty_mb", tunable: again)
        parameters.reapply()
        XCTAssertEqual(again.value, 256)
    }

    func testAWatchingMGCAppliesAParameterSetAtTheMGS() async throws {
        let mgs = try await makeMGS()
        let device = try XCTUnwrap(mgs.device)
        try await device.register(try TargetName(parsing: "testfs-MDT0000"), nids: ["127.0.7.1@tcp"])
        let tree = ParamTree()
        let readAhead = Tunable(64, range: 0...65536, unit: .mebibytes)
        try tree.register("llite.testfs-ffff.max_read_ahead_mb", tunable: readAhead)
        let parameters = MGCParameters(tree: tree)
        let watch = try await mgs.mgc().watch(fsname: "testfs") { parameters.update($0) }
        defer { watch.cancel() }
        try await device.setPersistentParameter("llite.testfs-*.max_read_ahead_mb", value: "8")
        for _ in 0..<100 where readAhead.value != 8 { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertEqual(readAhead.value, 8)
    }

    private func configuration(generation: UInt64, _ parameters: [String: String]) -> FilesystemConfiguration {
        FilesystemConfiguration(fsname: "testfs", generation: generation, parameters: parameters)
    }
}
