import LibCFS
import LustreTestSupport
import NIOCore
@testable import OFD
import OSC
import ObdClass
import OSD
import PtlRPC
import XCTest

/// Grant: the space an OST reserves for a client's cached writes, as the OST counts it
/// (`OFDGrant`), as the client holds it (`OSCGrant`), and between the two over TCP.
final class OSTGrantTests: XCTestCase {
    private let mib: UInt64 = 1 << 20

    func testTheOSTGrantsWhatItsFreeSpaceBeyondOtherGrantsAllows() {
        let grant = OFDGrant(epoch: 7)
        // 100 MiB free: the first client gets the 40 MiB it asks for.
        XCTAssertEqual(grant.allocate(export: 1, wanted: 40 * mib, available: 100 * mib, now: 1), 40 * mib)
        // Already holding what it wants: nothing more.
        XCTAssertEqual(grant.allocate(export: 1, wanted: 40 * mib, available: 100 * mib, now: 2), 0)
        // A second client gets what is left beyond the first's grant, its metadata share and the reserve.
        let second = grant.allocate(export: 2, wanted: 100 * mib, available: 100 * mib, now: 3)
        XCTAssertGreaterThan(second, 55 * mib)
        XCTAssertLessThan(second, 60 * mib - 40 * mib / 64 - OFDGrant.reserve + 1)
        XCTAssertEqual(grant.totalGranted, 40 * mib + second)
        // Nothing is left for a third.
        XCTAssertEqual(grant.allocate(export: 3, wanted: 10 * mib, available: 100 * mib, now: 4), 0)
        // No client holds more than the cap, whatever it asks.
        let big = OFDGrant(epoch: 8)
        XCTAssertEqual(big.allocate(export: 1, wanted: .max, available: .max / 2, now: 1), OFDGrant.maximumPerExport)
    }

    func testCachedBytesArrivingComeOffTheGrantAndLeaveTheRestReserved() {
        let grant = OFDGrant(epoch: 7)
        _ = grant.allocate(export: 1, wanted: 40 * mib, available: 1000 * mib, now: 1)
        _ = grant.allocate(export: 2, wanted: 20 * mib, available: 1000 * mib, now: 1)
        // 4 MiB of client 1's cached bytes arrive: the write must leave the other 56 MiB (and
        // their metadata share) free.
        XCTAssertEqual(grant.consume(4 * mib, export: 1, now: 2), 56 * mib + 56 * mib / 64)
        XCTAssertEqual(grant.granted(to: 1), 36 * mib)
        // A client claiming more than it holds (the OST restarted, say) loses what it holds, no more.
        XCTAssertEqual(grant.consume(100 * mib, export: 2, now: 3), 36 * mib + 36 * mib / 64)
        XCTAssertEqual(grant.granted(to: 2), 0)
        // A write not from grant takes nothing, and must leave all grant free.
        XCTAssertEqual(grant.consume(0, export: 3, now: 4), 36 * mib + 36 * mib / 64)
        // Grant the client let go comes off too, and is given again.
        XCTAssertEqual(grant.consume(mib, dropped: 35 * mib, export: 1, now: 5), 0)
        XCTAssertEqual(grant.allocate(export: 1, wanted: 40 * mib, available: 1000 * mib, now: 5), 40 * mib)
        grant.discard(export: 1)
        XCTAssertEqual(grant.totalGranted, 0)
    }

    /// A volume with `free` bytes available, as `statfs` gives it to a write's admission.
    private func volume(_ free: UInt64) -> OSDStatfs {
        OSDStatfs(blockSize: 4096, blocks: 1 << 20, blocksFree: free / 4096, blocksAvailable: free / 4096,
                  files: 1 << 16, filesFree: 1 << 15, nameLength: 255)
    }

    func testAWriteInFlightKeepsItsRoomFromTheOthers() {
        let grant = OFDGrant(epoch: 7)
        _ = grant.allocate(export: 1, wanted: 40 * mib, available: 100 * mib, now: 1)
        // Client 1's 4 MiB of cached bytes arrive: off its grant, but not yet in the volume.
        let cached = grant.admit(4 * mib, fromGrant: 4 * mib, dropped: 0, replay: false, export: 1, now: 2) { volume(60 * mib) }
        // All from grant: its room was set aside when the grant was given, no space check.
        XCTAssertNil(cached.reserved)
        // A write of client 2 meanwhile sees the same free bytes in its statfs: it must leave
        // client 1's remaining grant and the 4 MiB on their way free (with the old accounting the
        // cached bytes were free again once consumed, and the two writes passed for the same room).
        let through = grant.admit(mib, fromGrant: 0, dropped: 0, replay: false, export: 2, now: 3) { volume(60 * mib) }
        XCTAssertEqual(through.reserved, 36 * mib + 36 * mib / 64 + 4 * mib + 4 * mib / 64)
        XCTAssertEqual(grant.land(through, export: 2, wanted: nil, now: 4), 0)
        _ = grant.land(cached, export: 1, wanted: nil, now: 5)
        // Both landed: only the grant stays reserved.
        XCTAssertEqual(grant.consume(0, export: 3, now: 6), 36 * mib + 36 * mib / 64)
        // A replay takes no grant and leaves others' alone, but is pending for them all the same.
        let replay = grant.admit(mib, fromGrant: mib, dropped: 0, replay: true, export: 1, now: 7) { volume(60 * mib) }
        XCTAssertNil(replay.reserved)
        XCTAssertEqual(grant.granted(to: 1), 36 * mib)
        XCTAssertEqual(grant.consume(0, export: 3, now: 8), 36 * mib + 36 * mib / 64 + mib + mib / 64)
        _ = grant.land(replay, export: 1, wanted: nil, now: 9)
        // A write claiming more grant than its client holds is checked like one without: it
        // must leave the others' grant free (client 1 keeps nothing of its 36 MiB here).
        let claimed = grant.admit(40 * mib, fromGrant: 40 * mib, dropped: 0, replay: false, export: 1, now: 10) { volume(60 * mib) }
        XCTAssertEqual(claimed.reserved, 0)
        XCTAssertEqual(grant.granted(to: 1), 0)
        _ = grant.land(claimed, export: 1, wanted: nil, now: 11)
    }

    func testGrantAfterAWriteCountsWhatLandedSinceItsStatfs() {
        let grant = OFDGrant(epoch: 7)
        // Two writes of 8 MiB admitted with the same 20 MiB free; both land.
        let first = grant.admit(8 * mib, fromGrant: 0, dropped: 0, replay: false, export: 1, now: 1) { volume(20 * mib) }
        let second = grant.admit(8 * mib, fromGrant: 0, dropped: 0, replay: false, export: 2, now: 1) { volume(20 * mib) }
        XCTAssertEqual(second.reserved, 8 * mib + 8 * mib / 64)
        XCTAssertEqual(grant.land(second, export: 2, wanted: nil, now: 2), 0)
        // The first's grant comes out of what both left: 20 MiB less 2 × (8 MiB and 1/64) less
        // the 1 MiB reserve, not out of what its own statfs showed less its own write (11 MiB).
        let granted = grant.land(first, export: 1, wanted: 40 * mib, now: 3)
        let left = 20 * mib - 2 * (8 * mib + 8 * mib / 64) - OFDGrant.reserve
        XCTAssertEqual(granted, left / 65 * 64)
        // And while a write is on its way, its bytes are not granted to anyone.
        let third = grant.admit(2 * mib, fromGrant: 0, dropped: 0, replay: false, export: 2, now: 4) { volume(30 * mib) }
        let beside = grant.allocate(export: 3, wanted: 40 * mib, available: 30 * mib, now: 4)
        XCTAssertLessThanOrEqual(beside, (30 * mib - granted - granted / 64 - (2 * mib + 2 * mib / 64) - OFDGrant.reserve) / 65 * 64)
        _ = grant.land(third, export: 2, wanted: nil, now: 5)
    }

    func testTheGrantOfAClientThatStoppedWritingIsTakenBack() {
        let grant = OFDGrant(epoch: 7)
        let start = OFDGrant.sweepInterval
        _ = grant.allocate(export: 1, wanted: 40 * mib, available: 1000 * mib, now: start)
        _ = grant.allocate(export: 2, wanted: 40 * mib, available: 1000 * mib, now: start)
        _ = grant.consume(mib, export: 2, now: start + OFDGrant.expiry / 2)
        // Client 1 wrote nothing for the expiry, client 2 did half way: only 1's grant goes, and
        // the next write, from any client, no longer leaves it free.
        XCTAssertEqual(grant.consume(0, export: 3, now: start + OFDGrant.expiry), 39 * mib + 39 * mib / 64)
        XCTAssertEqual(grant.granted(to: 1), 0)
        XCTAssertEqual(grant.granted(to: 2), 39 * mib)
        XCTAssertEqual(grant.totalGranted, 39 * mib)
    }

    func testTheClientCachesOnlyAgainstGrantAndDropsGrantOfAnotherEpoch() {
        let grant = OSCGrant()
        XCTAssertFalse(grant.take(4096), "a client starts with no grant")
        let now = MonotonicClock.nanoseconds()
        grant.update(OSTGrant.Reply(granted: 8 * mib, epoch: 5), sentAt: now)
        XCTAssertTrue(grant.take(Int(6 * mib)))
        XCTAssertFalse(grant.take(Int(3 * mib)))
        grant.giveBack(Int(mib))
        XCTAssertEqual(grant.available, 3 * mib)
        XCTAssertEqual(grant.request(fromGrant: 1234), OSTGrant.Request(fromGrant: 1234, wanted: OSCGrant.defaultWanted))
        grant.setWanted { 99 }
        XCTAssertEqual(grant.request(fromGrant: Int(5 * mib) - 1234).wanted, 99)
        // The OST restarted: what was held is gone, what the new one gives counts.
        grant.update(OSTGrant.Reply(granted: mib, epoch: 6), sentAt: now)
        XCTAssertEqual(grant.available, mib)
        // Bytes cached against the old grant and not yet sent when the epoch changes come off
        // the new grant when they arrive (marked from grant): counted out of it at once.
        XCTAssertTrue(grant.take(Int(mib)))
        grant.update(OSTGrant.Reply(granted: 8 * mib, epoch: 7), sentAt: now)
        XCTAssertEqual(grant.available, 7 * mib)
        _ = grant.request(fromGrant: Int(mib))
        grant.update(OSTGrant.Reply(granted: 0, epoch: 7), sentAt: now)
        XCTAssertEqual(grant.available, 7 * mib)
        // Grant not renewed for the expiry is let go, and the next write says so, once.
        let stale = OSCGrant()
        stale.update(OSTGrant.Reply(granted: 8 * mib, epoch: 5), sentAt: now &- OSCGrant.expiry)
        XCTAssertFalse(stale.take(4096))
        XCTAssertEqual(stale.available, 0)
        XCTAssertEqual(stale.request(fromGrant: 0).dropped, 8 * mib)
        XCTAssertEqual(stale.request(fromGrant: 0).dropped, 0)
    }

    func testWritesBringGrantAndCachedWritesGiveItBackOverTheWire() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc()
        let target = try XCTUnwrap(oss.service?.targets.first)
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        XCTAssertEqual(osc.grant.available, 0)
        // A write not from grant (written through): the reply brings the grant the client wants.
        try await osc.write(object: id, offset: 0, data: pattern(65536, seed: 1))
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        let parameter = try ParamTree.shared.get("obdfilter.testfs-OST0000.tot_granted")
        XCTAssertEqual(parameter.map(\.value), ["\(OSCGrant.defaultWanted)"])
        // 4 MiB cached against grant: taken on the client, consumed on the OST, topped up again.
        XCTAssertTrue(osc.grant.take(4 << 20))
        try await osc.write(object: id, offset: 1 << 20, parts: [pattern(4 << 20, seed: 2)], fromGrant: true)
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        let back = try await osc.read(object: id, offset: 1 << 20, length: 4 << 20)
        XCTAssertEqual(back, pattern(4 << 20, seed: 2))
        // The client's disconnect gives its grant back.
        await osc.disconnect()
        XCTAssertEqual(target.grant.totalGranted, 0)
    }

    /// A client that let its grant go unused (expired) gets it again at its next write: the OST
    /// is told, instead of keeping it for a client that no longer counts on it and granting it
    /// nothing more (which left the client writing through for as long as it kept writing).
    func testGrantLetGoUnusedIsGivenAgainAtTheNextWrite() async throws {
        let oss = try await makeOSS()
        let osc = try await oss.osc { $0.grantExpiry = 0.3 }
        let target = try XCTUnwrap(oss.service?.targets.first)
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 1))
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(osc.grant.available, 0)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        try await osc.write(object: id, offset: 4096, data: pattern(4096, seed: 2))
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
    }

    /// A client's OSC asks for grant when it connects (Lustre's `ocd_grant`), so that its first
    /// writes may be cached; an OSC asking none (the MDT's OSP) holds none; a malformed request
    /// refuses that connect alone.
    func testAClientsConnectBringsGrant() async throws {
        let oss = try await makeOSS()
        let target = try XCTUnwrap(oss.service?.targets.first)
        let plain = try await oss.osc()
        XCTAssertEqual(plain.grant.available, 0)
        XCTAssertEqual(target.grant.totalGranted, 0)
        let client = try await oss.osc(client: 1) { $0.grantAtConnect = true }
        XCTAssertEqual(client.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        // Its first write is cached against that grant, consumed on the OST and topped up.
        let id = OSTObjectID(objectID: try await client.precreate(count: 1).lowerBound)
        XCTAssertTrue(client.grant.take(1 << 20))
        try await client.write(object: id, offset: 0, parts: [pattern(1 << 20, seed: 3)], fromGrant: true)
        XCTAssertEqual(client.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)

        do {
            _ = try await oss.rawImport(client: 1, connectData: ByteBuffer(bytes: [1, 2, 3]))
            XCTFail("a connect with a malformed grant request was accepted")
        } catch let error as LustreError {
            XCTAssertEqual(error.errno, EPROTO)
        }
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        // The OST serves the others on.
        let back = try await client.read(object: id, offset: 0, length: 1 << 20)
        XCTAssertEqual(back, pattern(1 << 20, seed: 3))
        await client.disconnect()
        XCTAssertEqual(target.grant.totalGranted, 0)
    }

    /// A client that stops talking (its node died without unmounting) is evicted once the OST
    /// has not heard from it for one and a half `obd_timeout`s, and its grant is free again; a
    /// client idle but alive pings every quarter of it and keeps its export and its grant.
    func testASilentClientIsEvictedAndAnIdleLivingOneIsNot() async throws {
        try ObdTimeout.seconds.set(2)       // pings every 0.5 s, eviction after 3 s
        defer { try? ObdTimeout.seconds.set(ObdTimeout.seconds.defaultValue) }
        let oss = try await makeOSS()
        let service = try XCTUnwrap(oss.service)
        let target = try XCTUnwrap(service.targets.first)
        let alive = try await oss.osc(client: 0) { $0.grantAtConnect = true }
        _ = try await oss.osc(client: 1) { $0.grantAtConnect = true }
        XCTAssertEqual(service.exportCount, 2)
        XCTAssertEqual(target.grant.totalGranted, 2 * OSCGrant.defaultWanted)
        try await oss.killClient(1)
        let start = ContinuousClock.now
        while service.exportCount > 1, ContinuousClock.now - start < .seconds(10) {
            try await Task.sleep(for: .milliseconds(100))
        }
        XCTAssertEqual(service.exportCount, 1, "the dead client was not evicted")
        XCTAssertGreaterThanOrEqual(ContinuousClock.now - start, .seconds(2), "evicted before its timeout")
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        // The living client, idle all along, was not evicted: it still holds its grant, and
        // writes on its connection.
        try await Task.sleep(for: .seconds(4))
        XCTAssertEqual(service.exportCount, 1)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        let id = OSTObjectID(objectID: try await alive.precreate(count: 1).lowerBound)
        try await alive.write(object: id, offset: 0, data: pattern(4096, seed: 5))
        XCTAssertEqual(alive.rpcImport.status, .full)
    }

    /// A client evicted while alive (`obdfilter.*.evict_client`) connects again as a new client
    /// at its next request: its old export's grant is gone on the OST, and the client drops
    /// what it held (its new export's grant is another epoch) instead of counting both.
    func testAClientEvictedAndBackHoldsOnlyItsNewGrant() async throws {
        let oss = try await makeOSS()
        let target = try XCTUnwrap(oss.service?.targets.first)
        let osc = try await oss.osc { $0.grantAtConnect = true }
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        // 1 MiB cached against that grant, not yet sent.
        XCTAssertTrue(osc.grant.take(1 << 20))
        _ = try ParamTree.shared.set("obdfilter.testfs-OST0000.evict_client", value: osc.rpcImport.clientUUID)
        XCTAssertEqual(target.grant.totalGranted, 0)
        XCTAssertThrowsError(try ParamTree.shared.set("obdfilter.testfs-OST0000.evict_client", value: "nobody"))
        // A write through: the client connects again and gets 40 MiB of new grant, of which the
        // cached 1 MiB will take its share when it arrives.
        try await osc.write(object: id, offset: 0, data: pattern(4096, seed: 1))
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted - (1 << 20), "the client counts its old grant")
        try await osc.write(object: id, offset: 1 << 20, parts: [pattern(1 << 20, seed: 2)], fromGrant: true)
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        XCTAssertEqual(osc.grant.available, OSCGrant.defaultWanted)
        let back = try await osc.read(object: id, offset: 0, length: 4096)
        XCTAssertEqual(back, pattern(4096, seed: 1))
    }

    /// A client's OSC unused for its `idle_timeout` disconnects (once the OST said its writes
    /// are committed): the OST drops the export and its grant, the client holds none, and its
    /// next request connects it again and brings grant back. An OSC with writes cached against
    /// grant stays connected, and so does one whose idle timeout is 0.
    func testAnIdleClientDisconnectsAndGivesItsGrantBack() async throws {
        let oss = try await makeOSS()
        let service = try XCTUnwrap(oss.service)
        let target = try XCTUnwrap(service.targets.first)
        let idle = try await oss.osc(client: 0) {
            $0.grantAtConnect = true
            $0.idleTimeout = 1
        }
        let busy = try await oss.osc(client: 1) { $0.grantAtConnect = true }
        XCTAssertEqual(busy.idleTimeout.value, 0)
        let id = OSTObjectID(objectID: try await idle.precreate(count: 1).lowerBound)
        try await idle.write(object: id, offset: 0, data: pattern(4096, seed: 1))
        XCTAssertEqual(service.exportCount, 2)

        // The import is IDLE from the moment it sends its disconnect; the OST drops the export
        // when the disconnect arrives.
        try await waitUntil(within: 6) { idle.rpcImport.status == .idle }
        XCTAssertEqual(idle.rpcImport.status, .idle)
        try await waitUntil(within: 5) { service.exportCount == 1 }
        XCTAssertEqual(idle.rpcImport.replayCount, 0, "idle with nothing awaiting commit")
        XCTAssertEqual(service.exportCount, 1, "the OST dropped the idle client's export")
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted, "only the other client holds grant")
        XCTAssertEqual(idle.grant.available, 0)
        XCTAssertEqual(busy.rpcImport.status, .full, "idle_timeout 0: never idle")

        // The next request connects again, with grant.
        let back = try await idle.read(object: id, offset: 0, length: 4096)
        XCTAssertEqual(back, pattern(4096, seed: 1))
        XCTAssertEqual(idle.rpcImport.status, .full)
        XCTAssertEqual(service.exportCount, 2)
        XCTAssertEqual(idle.grant.available, OSCGrant.defaultWanted)
        XCTAssertEqual(target.grant.totalGranted, 2 * OSCGrant.defaultWanted)

        // Bytes cached against grant hold the connection until they are sent.
        XCTAssertTrue(idle.grant.take(1 << 20))
        try await Task.sleep(for: .seconds(2.5))
        XCTAssertEqual(idle.rpcImport.status, .full, "went idle with writes cached against its grant")
        try await idle.write(object: id, offset: 1 << 20, parts: [pattern(1 << 20, seed: 2)], fromGrant: true)
        _ = try ParamTree.shared.set("osc.\(idle.name).idle_timeout", value: "0")
        try await Task.sleep(for: .seconds(2.5))
        XCTAssertEqual(idle.rpcImport.status, .full, "idle_timeout=0 keeps it connected")
        _ = try ParamTree.shared.set("osc.\(idle.name).idle_timeout", value: "1")
        try await waitUntil(within: 6) { idle.rpcImport.status == .idle }
        XCTAssertEqual(idle.rpcImport.status, .idle)
        try await waitUntil(within: 5) { service.exportCount == 1 }
        XCTAssertEqual(target.grant.totalGranted, OSCGrant.defaultWanted)
        let second = try await idle.read(object: id, offset: 1 << 20, length: 1 << 20)
        XCTAssertEqual(second, pattern(1 << 20, seed: 2))
    }
}
