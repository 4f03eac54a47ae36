import LibCFS
import NIOCore
import OFD
import OSC
import ObdClass
import XCTest

/// The write data a client pins until its OSTs commit: bounded by `max_cached_mb` (writers wait
/// while the OST commits), and `OBD_BRW_SOFT_SYNC` making the OST commit early. The OSSes here
/// never commit on their own (no background commits), so every commit seen was asked for.
final class OSCClientCacheTests: XCTestCase {
    private static let mib = 1 << 20

    private func osc(_ oss: OSSFixture, cache: OSCClientCache?, client: Int = 0) async throws -> OSCDevice {
        try await oss.osc(client: client) { configuration in
            configuration.cache = cache
            configuration.maxPagesPerRPC = 256      // 1 MiB RPCs
            configuration.maxRPCsInFlight = 2
        }
    }

    func testWritersWaitAtTheBoundWhileTheOSTCommits() async throws {
        let oss = try await makeOSS(commitInterval: 0)
        let cache = OSCClientCache(maxCachedMB: 8)
        let bounded = try await osc(oss, cache: cache)
        let id = OSTObjectID(objectID: try await bounded.precreate(count: 1).lowerBound)
        let data = pattern(32 * Self.mib, seed: 7)
        for offset in stride(from: 0, to: data.readableBytes, by: Self.mib) {
            try await bounded.write(object: id, offset: UInt64(offset), data: data.getSlice(at: offset, length: Self.mib)!)
            // A writer waits before its write once the bound is reached, so at most that write is over it.
            XCTAssertLessThanOrEqual(cache.unstableBytes, 9 * Self.mib, "after the write at \(offset)")
            XCTAssertEqual(cache.unstableBytes, bounded.rpcImport.unstableBytes)
        }
        XCTAssertTrue(cache.maxCachedText().contains("max_cached_mb: 8\n"), cache.maxCachedText())
        XCTAssertFalse(cache.maxCachedText().contains("reclaim_count: 0\n"), "no writer ever waited")
        let back = try await bounded.read(object: id, offset: 0, length: data.readableBytes)
        XCTAssertEqual(back, data)

        // Without a cache nothing asks the OST to commit: all of it stays pinned.
        let unbounded = try await osc(oss, cache: nil, client: 1)
        for offset in stride(from: 0, to: data.readableBytes, by: Self.mib) {
            try await unbounded.write(object: id, offset: UInt64(offset), data: data.getSlice(at: offset, length: Self.mib)!)
        }
        XCTAssertEqual(unbounded.rpcImport.unstableBytes, data.readableBytes)
    }

    func testSoftSyncWritesMakeTheOSTCommitEarly() async throws {
        let oss = try await makeOSS(commitInterval: 0)
        let target = try XCTUnwrap(oss.service?.targets.first)
        try target.softSyncLimit.set(text: "0")
        // Soft sync from a quarter of the bound (4 MiB here), for an OSC pinning over its RPC window (2 MiB).
        let cache = OSCClientCache(maxCachedMB: 16)
        let osc = try await osc(oss, cache: cache)
        let id = OSTObjectID(objectID: try await osc.precreate(count: 1).lowerBound)
        func write(_ mebibytes: Range<Int>) async throws {
            for index in mebibytes {
                try await osc.write(object: id, offset: UInt64(index * Self.mib), data: pattern(Self.mib, seed: UInt64(index)))
            }
        }
        // With the mark ignored, the OST does not commit.
        try await write(0..<8)
        try await Task.sleep(for: .milliseconds(300))
        XCTAssertEqual(target.lastCommitted, 0)
        XCTAssertEqual(cache.unstableBytes, 8 * Self.mib)

        try target.softSyncLimit.set(text: "2")
        try await write(8..<10)
        var waited = 0
        while target.lastCommitted == 0, waited < 50 {
            try await Task.sleep(for: .milliseconds(100))
            waited += 1
        }
        XCTAssertGreaterThan(target.lastCommitted, 0, "two soft-sync writes did not make the OST commit")
        // The next reply carries the new last_committed and frees what it covers.
        try await write(10..<11)
        XCTAssertLessThan(cache.unstableBytes, 4 * Self.mib)
        XCTAssertEqual(OSCClientCache.unstableStatsText(bytes: 5 * Self.mib),
                       "unstable_pages:                 1280\nunstable_mb:             5\n")
    }
}
