import LNet
import LibCFS
@testable import MDT
import ObdClass
import XCTest

/// Object allocation over two real OSSes: round-robin, offsets, stripe count -1 and clamping,
/// weighting by free space, OSTs going down and coming back.
final class LODAllocationTests: XCTestCase {
    func testRoundRobinOverEqualOSTsAndObjectsExist() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        var order: [UInt32] = []
        var seen = Set<LayoutObject>()
        for n in 1...20 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout())
            XCTAssertEqual(layout.objects.count, 1)
            XCTAssertEqual(layout.fid, lodFID(UInt32(n)))
            XCTAssertEqual(layout.stripeCount, 1)
            XCTAssertEqual(UInt32(layout.stripeOffset), layout.objects[0].ostIndex)
            order.append(layout.objects[0].ostIndex)
            XCTAssertTrue(seen.insert(layout.objects[0]).inserted, "object handed out twice")
            XCTAssertTrue(fixture.objectExists(layout.objects[0].id, on: Int(layout.objects[0].ostIndex)),
                          "allocated object \(layout.objects[0].id) not precreated on its OST")
        }
        XCTAssertEqual(order.filter { $0 == 0 }.count, 10, "\(order)")
        for pair in zip(order, order.dropFirst()) { XCTAssertNotEqual(pair.0, pair.1, "not round-robin: \(order)") }
        await lod.stop()
    }

    /// Files created while a refill is on its way must not break the refill into RPCs of a few
    /// objects each (every one an OST `LAST_ID` sync): a pool of 32 refills half a batch a time.
    func testPrecreationRefillsInWholeBatches() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        let before = [fixture.createRPCs(on: 0), fixture.createRPCs(on: 1)]
        var seen = Set<LayoutObject>()
        for n in 1...600 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout(count: 2))
            for object in layout.objects { XCTAssertTrue(seen.insert(object).inserted, "object handed out twice") }
            // At the pace of files created one after another through a mount.
            try await Task.sleep(for: .microseconds(500))
        }
        XCTAssertEqual(seen.count, 1200)
        for index in 0...1 {
            let rpcs = fixture.createRPCs(on: index) - before[index]
            // 600 objects from each OST, at least 16 per refill: at most ~40 RPCs (4 seen); the
            // old top-ups sent one for every 3-4 objects (139-168 seen).
            XCTAssertGreaterThan(rpcs, 0)
            XCTAssertLessThanOrEqual(rpcs, 40, "OST\(index): \(rpcs) precreate RPCs for 600 objects")
        }
        await lod.stop()
    }

    func testStripeOffsetIsHonoured() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        for n in 1...6 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout(count: 1, offset: 1))
            XCTAssertEqual(layout.objects.map(\.ostIndex), [1])
        }
        let two = try await lod.allocate(for: lodFID(7), layout: lodLayout(count: 2, offset: 1))
        XCTAssertEqual(two.objects.map(\.ostIndex), [1, 0])
        XCTAssertEqual(two.stripeOffset, 1)
        await lod.stop()
    }

    /// Right after start, a stripe offset naming an OST still connecting waits for it instead
    /// of taking the next OST that is ready (`lfs setstripe -i 1` at mount time).
    func testStripeOffsetWaitsForItsOSTWhileItConnects() async throws {
        let fixture = try await makeLODFixture()
        // OST0001's OSP waits 2 s before connecting: it stays connecting meanwhile.
        FailLoc.failValue = 1
        FailLoc.value = OSPFail.connectDelay
        defer { FailLoc.value = 0 }
        let lod = try await fixture.startLOD(waitForOSTs: false)
        await lodWait(15, "OST0000 usable") { lod.usableOSTCount >= 1 }
        XCTAssertEqual(lod.usableOSTCount, 1)
        let layout = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: 1, offset: 1))
        XCTAssertEqual(layout.objects.map(\.ostIndex), [1])
        await lod.stop()
    }

    func testStripeCountAllGivesEveryOSTAndLargeCountsClamp() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        XCTAssertEqual(lod.ostCount, 2)
        let all = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: LustreLayout.stripeCountAll))
        XCTAssertEqual(Set(all.objects.map(\.ostIndex)), [0, 1])
        XCTAssertEqual(all.stripeCount, 2)
        let many = try await lod.allocate(for: lodFID(2), layout: lodLayout(count: 7))
        XCTAssertEqual(many.objects.count, 2)
        XCTAssertEqual(Set(many.objects.map(\.ostIndex)), [0, 1])
        XCTAssertEqual(Set(all.objects + many.objects).count, 4)
        await lod.stop()
    }

    func testAllocationIsWeightedWhenOneOSTIsMuchFuller() async throws {
        // OST1 lives on a 32 MiB tmpfs, OST0 on the test machine's disk.
        let fixture = try await makeLODFixture(smallOST: 1)
        let lod = try await fixture.startLOD()
        await lodWait(10, "statfs of both OSTs") { await lod.ostStatfs().allSatisfy { $0.statfs != nil } }
        var counts: [UInt32: Int] = [:]
        for n in 1...200 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout())
            counts[layout.objects[0].ostIndex, default: 0] += 1
        }
        // Round-robin would give 100 each; by free space OST1's share is tiny.
        XCTAssertGreaterThanOrEqual(counts[0] ?? 0, 190, "\(counts)")
        // Asking for both stripes still uses both.
        let both = try await lod.allocate(for: lodFID(999), layout: lodLayout(count: 2))
        XCTAssertEqual(Set(both.objects.map(\.ostIndex)), [0, 1])
        await lod.stop()
    }

    func testOSTDownIsSkippedAndUsedAgainWhenBack() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        _ = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: 2))
        await fixture.stopOSS(1)
        await lodWait(15, "OST0001 seen down") { await lod.ostStatfs().first { $0.index == 1 }?.statfs == nil }
        for n in 2...11 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout())
            XCTAssertEqual(layout.objects.map(\.ostIndex), [0])
        }
        let reduced = try await lod.allocate(for: lodFID(12), layout: lodLayout(count: 2))
        XCTAssertEqual(reduced.objects.map(\.ostIndex), [0], "a stripe on the down OST")
        try await fixture.startOSS(1)
        await lodWait(20, "OST0001 back") { await lod.ostStatfs().first { $0.index == 1 }?.statfs != nil }
        var used: Set<UInt32> = []
        for n in 13...16 {
            used.formUnion(try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout()).objects.map(\.ostIndex))
        }
        XCTAssertEqual(used, [0, 1])
        await lod.stop()
    }

    func testOSTAddedWhileRunningIsUsed() async throws {
        let fixture = try await makeLODFixture()
        var options = LODDevice.Options()
        options.qosMaxAge = 0.5
        options.createTimeout = 10
        let lod = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs", options: options)
        try lod.addOST(index: 0, nids: [LODOSSFixture.ossNIDs[0]])
        try await lod.start()
        for n in 1...4 {
            let layout = try await lod.allocate(for: lodFID(UInt32(n)), layout: lodLayout(count: 2))
            XCTAssertEqual(layout.objects.map(\.ostIndex), [0])
        }
        // OST0001 registers at the MGS later.
        try lod.addOST(index: 1, nids: [LODOSSFixture.ossNIDs[1]])
        try lod.addOST(index: 1, nids: [LODOSSFixture.ossNIDs[1]])     // again: no change
        XCTAssertEqual(lod.ostCount, 2)
        await lodWait(15, "OST0001 usable") { lod.usableOSTCount == 2 }
        let both = try await lod.allocate(for: lodFID(5), layout: lodLayout(count: 2))
        XCTAssertEqual(Set(both.objects.map(\.ostIndex)), [0, 1])
        await lod.stop()
        XCTAssertEqual(try LODObjectIDFile.read(root: fixture.mdtRoot).count, 2)
    }

    func testENOSPCWhenNoOSTCanServe() async throws {
        let fixture = try await makeLODFixture()
        let lod = try await fixture.startLOD()
        _ = try await lod.allocate(for: lodFID(1), layout: lodLayout(count: 2))
        await fixture.stopOSS(0)
        await fixture.stopOSS(1)
        await lodWait(15, "both OSTs seen down") { await lod.ostStatfs().allSatisfy { $0.statfs == nil } }
        do {
            _ = try await lod.allocate(for: lodFID(2), layout: lodLayout())
            XCTFail("allocation with every OST down succeeded")
        } catch {
            XCTAssertEqual(error.errno, ENOSPC)
        }
        await lod.stop()
    }

    func testNoOSTsConfiguredIsENOSPC() async throws {
        let fixture = try await makeLODFixture()
        let lod = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs")
        try await lod.start()
        XCTAssertEqual(lod.ostCount, 0)
        do {
            _ = try await lod.allocate(for: lodFID(1), layout: lodLayout())
            XCTFail("allocation without OSTs succeeded")
        } catch {
            XCTAssertEqual(error.errno, ENOSPC)
        }
        await lod.stop()
    }

    func testBadInputIsRefused() async throws {
        let fixture = try await makeLODFixture()
        XCTAssertThrowsError(try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "much-too-long-name"))
        var options = LODDevice.Options()
        options.precreateMaxBatch = 1_000_000
        XCTAssertThrowsError(try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs", options: options))
        let lod = try LODDevice(lnet: fixture.mdsLNet, root: fixture.mdtRoot, fsname: "testfs")
        XCTAssertThrowsError(try lod.addOST(index: 0, nids: []))
        XCTAssertThrowsError(try lod.addOST(index: 0x10000, nids: [LODOSSFixture.ossNIDs[0]]))
    }
}

/// The placement policy alone, on made-up free space.
final class LODQOSTests: XCTestCase {
    private func targets(_ free: [UInt64]) -> [LODQOS.Target] {
        free.enumerated().map { LODQOS.Target(index: UInt32($0.offset), bytesAvailable: $0.element << 30) }
    }

    func testWithinThresholdIsRoundRobin() {
        var qos = LODQOS()
        let equalish = targets([100, 90, 95])   // within 17%
        XCTAssertTrue(qos.isBalanced(equalish))
        let firsts = (0..<9).map { _ in qos.choose(count: 1, offset: nil, among: equalish)[0] }
        XCTAssertEqual(firsts, [0, 1, 2, 0, 1, 2, 0, 1, 2])
    }

    func testBeyondThresholdIsWeightedByFreeSpace() {
        var qos = LODQOS()
        let skewed = targets([100, 50])
        XCTAssertFalse(qos.isBalanced(skewed))
        var counts = [0, 0]
        for _ in 0..<6000 { counts[Int(qos.choose(count: 1, offset: nil, among: skewed)[0])] += 1 }
        let ratio = Double(counts[0]) / Double(counts[1])
        XCTAssertEqual(ratio, 2, accuracy: 0.35, "\(counts)")
    }

    func testMultipleStripesAreDistinctAndOffsetLeads() {
        var qos = LODQOS()
        let skewed = targets([100, 10, 50, 70])
        for _ in 0..<100 {
            let chosen = qos.choose(count: 3, offset: nil, among: skewed)
            XCTAssertEqual(Set(chosen).count, 3)
        }
        XCTAssertEqual(qos.choose(count: 3, offset: 2, among: skewed), [2, 3, 0])
        // An offset that is not a candidate starts at the next one.
        let gap = [LODQOS.Target(index: 0, bytesAvailable: 1), LODQOS.Target(index: 3, bytesAvailable: 1)]
        XCTAssertEqual(qos.choose(count: 1, offset: 1, among: gap), [3])
        XCTAssertEqual(qos.choose(count: 5, offset: nil, among: gap).count, 2)
    }
}
