import XCTest
@testable import LibCFS

final class ParamTreeTests: XCTestCase {
    private func tree(_ names: [String]) -> ParamTree {
        let tree = ParamTree()
        for name in names { try! tree.register(name, get: { "v:" + name }) }
        return tree
    }

    private func names(_ t: ParamTree, _ pattern: String) -> [String] {
        (try? t.get(pattern).map(\.name)) ?? []
    }

    func testStarMatchesOneComponentOnly() {
        let t = tree(["osc.testfs-OST0000-osc-ffff8800.max_rpcs_in_flight",
                      "osc.testfs-OST0001-osc-ffff8800.max_rpcs_in_flight",
                      "osc.testfs-OST0000-osc-ffff8800.import.state"])
        XCTAssertEqual(names(t, "osc.*.max_rpcs_in_flight"),
                       ["osc.testfs-OST0000-osc-ffff8800.max_rpcs_in_flight",
                        "osc.testfs-OST0001-osc-ffff8800.max_rpcs_in_flight"])
        XCTAssertEqual(names(t, "osc.*.state"), [])
    }

    func testQuestionMarkAndBracketsMatchLikeFnmatch() {
        let t = tree(["obdfilter.testfs-OST0000.stats", "obdfilter.testfs-OST0001.stats",
                      "obdfilter.testfs-OST0002.stats"])
        XCTAssertEqual(names(t, "obdfilter.testfs-OST000?.stats").count, 3)
        XCTAssertEqual(names(t, "obdfilter.testfs-OST000[01].stats"),
                       ["obdfilter.testfs-OST0000.stats", "obdfilter.testfs-OST0001.stats"])
        XCTAssertEqual(names(t, "obdfilter.testfs-OST000[!01].stats"), ["obdfilter.testfs-OST0002.stats"])
        XCTAssertEqual(names(t, "obdfilter.testfs-OST000[1-2].stats").count, 2)
    }

    func testSlashWorksAsSeparator() {
        let t = tree(["osc.a.stats"])
        XCTAssertEqual(names(t, "osc/*/stats"), ["osc.a.stats"])
    }

    func testNIDIsOneComponent() {
        let t = tree(["obdfilter.testfs-OST0000.exports.192.168.1.2@tcp.uuid",
                      "obdfilter.testfs-OST0000.exports.0@lo.uuid",
                      "obdfilter.testfs-OST0000.exports.clear"])
        XCTAssertEqual(names(t, "obdfilter.*.exports.*.uuid"),
                       ["obdfilter.testfs-OST0000.exports.0@lo.uuid",
                        "obdfilter.testfs-OST0000.exports.192.168.1.2@tcp.uuid"])
        XCTAssertEqual(names(t, "obdfilter.*.exports.192.168.1.2@tcp.uuid").count, 1)
        XCTAssertEqual(names(t, "obdfilter.*.exports.192.168.*@tcp.uuid").count, 1)
    }

    func testNIDSplittingKeepsDottedAddressTogether() {
        XCTAssertEqual(ParamPattern("ldlm.namespaces.exports.10.0.0.1@tcp1.uuid").components,
                       ["ldlm", "namespaces", "exports", "10.0.0.1@tcp1", "uuid"])
    }

    func testResultsAreSortedByComponent() {
        let t = tree(["osc.a-b.x", "osc.a.x", "osc.b.x"])
        XCTAssertEqual(names(t, "osc.*.x"), ["osc.a.x", "osc.a-b.x", "osc.b.x"])
    }

    func testGetReturnsValuesFromGetters() throws {
        let t = tree(["debug"])
        XCTAssertEqual(try t.get("debug").map(\.value), ["v:debug"])
    }

    func testNoMatchIsENOENT() {
        XCTAssertThrowsError(try tree(["a.b"]).get("a.c")) { error in
            XCTAssertEqual((error as! LustreError).errno, ENOENT)
        }
    }

    func testDuplicateRegistrationIsEEXIST() {
        let t = tree(["a.b"])
        XCTAssertThrowsError(try t.register("a.b", get: { "" })) { error in
            XCTAssertEqual((error as! LustreError).errno, EEXIST)
        }
    }

    func testNamesWithGlobCharactersAreRejected() {
        XCTAssertThrowsError(try ParamTree().register("osc.*.x", get: { "" }))
        XCTAssertThrowsError(try ParamTree().register("osc..x", get: { "" }))
    }

    func testSettingReadOnlyParamIsEACCES() {
        XCTAssertThrowsError(try tree(["a.b"]).set("a.b", value: "1")) { error in
            XCTAssertEqual((error as! LustreError).errno, EACCES)
        }
    }

    func testUnregisterByPrefixRemovesWholeComponentsOnly() {
        let t = tree(["osc.dev1.a", "osc.dev1.b.c", "osc.dev10.a", "osc.dev1"])
        XCTAssertEqual(t.unregister(prefix: "osc.dev1"), 3)
        XCTAssertEqual(t.listAll(), ["osc.dev10.a"])
    }

    func testUnregisterByPrefixIgnoresATrailingDot() {
        let t = tree(["osc.dev1.a", "osc.dev1.b", "osc.dev10.a"])
        XCTAssertEqual(t.unregister(prefix: "osc.dev1."), 2)
        XCTAssertEqual(t.listAll(), ["osc.dev10.a"])
    }

    func testUnregisterByExactName() {
        let t = tree(["a.b", "a.c"])
        XCTAssertTrue(t.unregister("a.b"))
        XCTAssertFalse(t.unregister("a.b"))
        XCTAssertEqual(t.listAll(), ["a.c"])
    }

    func testListMarksWritableParams() throws {
        let t = ParamTree()
        try t.register("x.ro", get: { "1" })
        try t.register("x.rw", get: { "1" }, set: { _ in })
        XCTAssertEqual(t.list("x.*").map { "\($0.name) \($0.isWritable)" }, ["x.ro false", "x.rw true"])
    }

    func testTunableRejectsOutOfRangeAndKeepsOldValue() throws {
        let t = ParamTree()
        let maxRPCs = Tunable(8, range: 1...256)
        try t.register("osc.dev.max_rpcs_in_flight", tunable: maxRPCs)
        try t.set("osc.*.max_rpcs_in_flight", value: "16")
        XCTAssertEqual(maxRPCs.value, 16)
        XCTAssertThrowsError(try t.set("osc.dev.max_rpcs_in_flight", value: "257")) { error in
            let e = error as! LustreError
            XCTAssertEqual(e.errno, EINVAL)
            XCTAssertTrue(e.context.contains("1..256"), e.context)
        }
        XCTAssertThrowsError(try t.set("osc.dev.max_rpcs_in_flight", value: "lots"))
        XCTAssertEqual(try t.get("osc.dev.max_rpcs_in_flight").first?.value, "16")
    }

    func testMegabyteTunableAcceptsUnitSuffixes() throws {
        let maxDirty = Tunable(2000, range: 1...100_000, unit: .mebibytes)
        try maxDirty.set(text: "1G")
        XCTAssertEqual(maxDirty.value, 1024)
        try maxDirty.set(text: "2048K")
        XCTAssertEqual(maxDirty.value, 2)
        XCTAssertThrowsError(try maxDirty.set(text: "100K"))     // not a whole MiB
        XCTAssertEqual(maxDirty.value, 2)
    }

    func testChecksumTypeTunablePrintsChoicesAndParsesNames() throws {
        let t = ParamTree()
        let type = Tunable(ChecksumType.default)
        try t.register("osc.dev.checksum_type", tunable: type)
        XCTAssertEqual(try t.get("osc.dev.checksum_type").first?.value, "crc32 adler [crc32c]")
        try t.set("osc.dev.checksum_type", value: "adler")
        XCTAssertEqual(type.value, .adler)
        XCTAssertThrowsError(try t.set("osc.dev.checksum_type", value: "sha1"))
        XCTAssertEqual(type.value, .adler)
    }

    func testTunableOnChangeRunsAfterAcceptedChanges() throws {
        let seen = LockedBox<[Int]>([])
        let tunable = Tunable(1, range: 0...10, onChange: { v in seen.mutate { $0.append(v) } })
        try tunable.set(5)
        XCTAssertThrowsError(try tunable.set(11))
        XCTAssertEqual(seen.value, [5])
    }

    func testStatsParamClearsOnWrite() throws {
        let t = ParamTree()
        let stats = LProcStats([.init("ost_write", unit: "usecs")])
        try t.register("obdfilter.testfs-OST0000.stats", stats: stats)
        stats.record(0, 10)
        try t.set("obdfilter.*.stats", value: "clear")
        XCTAssertEqual(stats.snapshot(0).count, 0)
    }

    func testMultiMatchSetSetsOthersAndThrowsFirstFailure() throws {
        let t = ParamTree()
        let a = Tunable(1, range: 0...10), b = Tunable(1, range: 0...3)
        try t.register("x.a.v", tunable: a)
        try t.register("x.b.v", tunable: b)
        XCTAssertThrowsError(try t.set("x.*.v", value: "5"))
        XCTAssertEqual(a.value, 5)
        XCTAssertEqual(b.value, 1)
    }

    func testSharedTreeHoldsLibcfsParams() {
        let names = ParamTree.shared.listAll()
        for name in ["debug", "debug_mb", "fail_loc", "fail_val"] {
            XCTAssertTrue(names.contains(name), name)
        }
    }

    func testFnmatchEdgeCases() {
        XCTAssertTrue(ParamPattern.fnmatch("*", ""))
        XCTAssertTrue(ParamPattern.fnmatch("a*b*c", "aXXbYYc"))
        XCTAssertFalse(ParamPattern.fnmatch("a*b", "aXXc"))
        XCTAssertTrue(ParamPattern.fnmatch("\\*", "*"))
        XCTAssertFalse(ParamPattern.fnmatch("\\*", "a"))
        XCTAssertTrue(ParamPattern.fnmatch("[]]", "]"))
    }
}

/// A tiny lock-protected box for collecting values from @Sendable callbacks.
final class LockedBox<T: Sendable>: @unchecked Sendable {
    private var stored: T
    private let lock = NSLock()
    init(_ value: T) { stored = value }
    var value: T { lock.lock(); defer { lock.unlock() }; return stored }
    func mutate(_ body: (inout T) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}
