@testable import LLite
import LOV
import LustreTestSupport
import LibCFS
import NIOCore
import OFD
import ObdClass
import Synchronization
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// File data through a mounted client against a real MGS, MDT and two OSTs.
final class LustreClientDataTests: XCTestCase {
    private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    private func readAll(_ file: LustreFile, size: Int, chunk: Int = 1 << 20) async throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(size)
        while result.count < size {
            let data = try await file.read(offset: UInt64(result.count), length: min(chunk, size - result.count))
            if data.readableBytes == 0 { break }
            result += Array(data.readableBytesView)
        }
        return result
    }

    /// Random writes crossing 64 KiB stripe boundaries, then reads of every kind, equal a reference.
    private func checkRandomWrites(stripeCount: UInt16, expectedStripes: Int) async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let layout = LustreLayout(stripeSize: 64 << 10, stripeCount: stripeCount)
        let file = try await client.create(parent: client.rootFID, name: "random-\(stripeCount)", mode: 0o644,
                                           credentials: .root, layout: layout)
        XCTAssertEqual(file.layout?.objects.count, expectedStripes)
        var reference = [UInt8](repeating: 0, count: 0)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<60 {
            let offset = Int.random(in: 0..<(3 << 20), using: &generator)
            let length = Int.random(in: 1...(300 << 10), using: &generator)
            let data = pattern(length, seed: UInt64(round))
            if reference.count < offset + length { reference += [UInt8](repeating: 0, count: offset + length - reference.count) }
            reference.replaceSubrange(offset..<(offset + length), with: data)
            try await file.write(offset: UInt64(offset), data: buffer(data))
        }
        // Before close: reads see the cached writes.
        let before = try await readAll(file, size: reference.count + 4096)
        XCTAssertEqual(before.count, reference.count)
        XCTAssertTrue(before == reference, "data read before close differs")
        let size = await file.size
        XCTAssertEqual(size, UInt64(reference.count))
        try await file.close()

        let attributes = try await client.getattr(file.fid, credentials: .root)
        XCTAssertEqual(attributes.size, UInt64(reference.count))
        let again = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let sequential = try await readAll(again, size: reference.count, chunk: 128 << 10)
        XCTAssertTrue(sequential == reference, "sequential read after reopen differs")
        for _ in 0..<40 {
            let offset = Int.random(in: 0..<reference.count, using: &generator)
            let length = Int.random(in: 1...(200 << 10), using: &generator)
            let data = try await again.read(offset: UInt64(offset), length: length)
            let end = min(offset + length, reference.count)
            XCTAssertEqual(Array(data.readableBytesView), Array(reference[offset..<end]), "read at \(offset)+\(length)")
        }
        try await again.close()
    }

    func testRandomWritesOnOneStripeEqualTheReference() async throws {
        try await checkRandomWrites(stripeCount: 1, expectedStripes: 1)
    }

    func testRandomWritesOnTwoStripesEqualTheReference() async throws {
        try await checkRandomWrites(stripeCount: 2, expectedStripes: 2)
    }

    func testRandomWritesOnEveryOSTEqualTheReference() async throws {
        try await checkRandomWrites(stripeCount: LustreLayout.stripeCountAll, expectedStripes: 2)
    }

    /// A read sends and waits for the cached writes of its own bytes only: the others stay
    /// cached (as dirty pages beside the ones read), and every read still sees every write.
    func testAReadLeavesOtherCachedWritesCachedAndSeesItsOwn() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "mixed", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        var reference = pattern(2 << 20, seed: 1)
        try await file.write(offset: 0, data: buffer(reference))
        try await file.fsync()
        XCTAssertFalse(file.inode.hasDirtyData)

        // 4 KiB at 8 KiB: held back in its stripe's run, not sent.
        let small = pattern(4096, seed: 2)
        reference.replaceSubrange(8192..<12288, with: small)
        try await file.write(offset: 8192, data: buffer(small))
        XCTAssertTrue(file.inode.hasDirtyData)
        // Other bytes, on the same stripe and on the other one: read from the OSTs, the write stays cached.
        for offset in [1 << 20, (1 << 20) + (64 << 10), 0] {
            let data = try await file.read(offset: UInt64(offset), length: 4096)
            XCTAssertEqual(Array(data.readableBytesView), Array(reference[offset..<(offset + 4096)]), "read at \(offset)")
            XCTAssertTrue(file.inode.hasDirtyData, "a read at \(offset) sent the cached write of other bytes")
        }
        // A read over the cached bytes has them, sent to the OST and answered.
        let over = try await file.read(offset: 4096, length: 16384)
        XCTAssertEqual(Array(over.readableBytesView), Array(reference[4096..<20480]))
        XCTAssertFalse(file.inode.hasDirtyData)

        // Random writes and reads, interleaved, crossing stripes: every read equals the reference.
        var generator = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let offset = Int.random(in: 0..<(reference.count - 1), using: &generator)
            let length = Int.random(in: 1...(min(96 << 10, reference.count - offset)), using: &generator)
            if round % 2 == 0 {
                let data = pattern(length, seed: UInt64(round) + 10)
                reference.replaceSubrange(offset..<(offset + length), with: data)
                try await file.write(offset: UInt64(offset), data: buffer(data))
            } else {
                let data = try await file.read(offset: UInt64(offset), length: length)
                XCTAssertTrue(Array(data.readableBytesView) == Array(reference[offset..<(offset + length)]),
                              "round \(round): read at \(offset)+\(length) differs")
            }
        }
        try await file.close()
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let all = try await readAll(reader, size: reference.count)
        XCTAssertTrue(all == reference, "the file after close differs")
        try await reader.close()
    }

    func testSparseFileWithAHolePastFourGiBReadsZerosInTheHole() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "sparse", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2))
        let head = pattern(10_000, seed: 1)
        let tail = pattern(100_000, seed: 2)
        let far: UInt64 = (5 << 30) + 12345
        try await file.write(offset: 0, data: buffer(head))
        try await file.write(offset: far, data: buffer(tail))
        try await file.close()

        let attributes = try await client.getattr(file.fid, credentials: .root)
        XCTAssertEqual(attributes.size, far + UInt64(tail.count))
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let hole = try await reader.read(offset: 4 << 30, length: 3 << 20)
        XCTAssertEqual(hole.readableBytes, 3 << 20)
        XCTAssertTrue(hole.readableBytesView.allSatisfy { $0 == 0 })
        let start = try await reader.read(offset: 0, length: 20_000)
        XCTAssertEqual(Array(start.readableBytesView), head + [UInt8](repeating: 0, count: 10_000))
        let end = try await reader.read(offset: far - 100, length: 1 << 20)
        XCTAssertEqual(Array(end.readableBytesView), [UInt8](repeating: 0, count: 100) + tail)
        let past = try await reader.read(offset: far + UInt64(tail.count), length: 4096)
        XCTAssertEqual(past.readableBytes, 0)
        try await reader.close()
    }

    func testAppendWritesAtTheEndWhateverTheOffset() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "log", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        try await file.write(offset: 0, data: buffer(pattern(100_000, seed: 1)))
        try await file.close()
        let appender = try await client.open(file.fid, flags: O_WRONLY | O_APPEND, credentials: .root)
        let first = try await appender.append(buffer(pattern(5000, seed: 2)))
        XCTAssertEqual(first.offset, 100_000)
        XCTAssertEqual(first.written, 5000)
        // With O_APPEND the offset given is ignored.
        try await appender.write(offset: 0, data: buffer(pattern(70_000, seed: 3)))
        try await appender.close()
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let all = try await readAll(reader, size: 200_000)
        XCTAssertEqual(all.count, 175_000)
        XCTAssertTrue(all == pattern(100_000, seed: 1) + pattern(5000, seed: 2) + pattern(70_000, seed: 3))
        try await reader.close()
    }

    /// A client out of grant writes through; an OST that refuses a piece after the first makes
    /// the write short (the bytes before that piece), as a local file system's when its disk
    /// fills mid-write, and the next write, starting on that OST, fails with `ENOSPC`. An append
    /// grows the file by what it wrote only.
    func testAWriteAnOSTRefusesAfterItsFirstPieceIsShort() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "short", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        let lov = try XCTUnwrap(file.inode.lov)
        for target in lov.targets { _ = target.osc.grant.take(Int(target.osc.grant.available)) }
        let full = try XCTUnwrap(file.layout?.objects[1].ostIndex)
        FailLoc.failValue = full
        FailLoc.value = OFDFail.enospc
        defer { FailLoc.value = 0; FailLoc.failValue = 0 }

        let data = pattern(256 << 10, seed: 11)
        let written = try await file.write(offset: 0, data: buffer(data))
        XCTAssertEqual(written, 64 << 10, "the write stops where the full OST's first piece begins")
        do {
            _ = try await file.write(offset: 64 << 10, data: buffer(data))
            XCTFail("a write whose first piece goes to the full OST wrote")
        } catch {
            XCTAssertEqual(error.errno, ENOSPC)
        }
        let size = await file.size
        XCTAssertEqual(size, 64 << 10)
        let appender = try await client.open(file.fid, flags: O_WRONLY | O_APPEND, credentials: .root)
        do {
            _ = try await appender.append(buffer(pattern(128 << 10, seed: 12)))
            XCTFail("an append whose first piece goes to the full OST wrote")
        } catch {
            XCTAssertEqual(error.errno, ENOSPC)
        }
        // Now the other OST is the full one: the append's first piece lands, its second does not.
        FailLoc.failValue = try XCTUnwrap(file.layout?.objects[0].ostIndex)
        let appended = try await appender.append(buffer(Array(data[(64 << 10)...])))
        XCTAssertEqual(appended.offset, 64 << 10, "the failed append left the end where it was")
        XCTAssertEqual(appended.written, 64 << 10)
        let grown = await file.size
        XCTAssertEqual(grown, 128 << 10)
        FailLoc.value = 0
        let back = try await readAll(file, size: 128 << 10)
        XCTAssertTrue(back == Array(data[..<(128 << 10)]), "the bytes acknowledged are there")
        try await appender.close()
        try await file.close()
    }

    /// Write data left cached past the write-back expiry goes to the OSTs without a close or an
    /// fsync (the kernel's `vm.dirty_expire_centisecs`); before it, it stays cached.
    func testTheFlusherWritesBackDataCachedPastTheExpiry() async throws {
        let fs = try await makeFilesystem()
        let settings = Mutex(LLiteFlusher.Settings(expire: 600_000_000, interval: 100_000_000))
        let client = try await fs.mount { options in
            options.writeback = { settings.withLock { $0 } }
        }
        let file = try await client.create(parent: client.rootFID, name: "slow", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2))
        let object = try LOVObject(layout: XCTUnwrap(file.layout), device: client.lov)
        // Less than an RPC on each stripe: held back.
        let data = pattern((1 << 20) + (100 << 10), seed: 21)
        try await file.write(offset: 0, data: buffer(data))
        try await Task.sleep(for: .milliseconds(300))
        let early = try await object.getattr()
        XCTAssertEqual(early.size, 0, "written back before the expiry")
        XCTAssertTrue(file.inode.hasDirtyData)
        let deadline = ContinuousClock.now + .seconds(5)
        while file.inode.hasDirtyData, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        XCTAssertFalse(file.inode.hasDirtyData, "nothing written back after the expiry")
        let merged = try await object.getattr()
        XCTAssertEqual(merged.size, UInt64(data.count))
        // Periodic write-back off (interval 0): a new write stays cached.
        settings.withLock { $0.interval = 0 }
        try await Task.sleep(for: .milliseconds(200))
        try await file.write(offset: UInt64(data.count), data: buffer(pattern(4096, seed: 22)))
        try await Task.sleep(for: .seconds(1))
        XCTAssertTrue(file.inode.hasDirtyData, "written back with periodic write-back off")
        try await file.close()
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let back = try await readAll(reader, size: data.count + 4096)
        XCTAssertTrue(back == data + pattern(4096, seed: 22))
        try await reader.close()
    }

    func testFsyncReturnsWithTheDataCommittedOnEveryOST() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "synced", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2))
        let data = pattern(3 << 20, seed: 7)
        try await file.write(offset: 0, data: buffer(data))
        try await file.fsync()
        // Both objects hold their share, and both OSTs have reported a commit.
        let object = try LOVObject(layout: XCTUnwrap(file.layout), device: client.lov)
        let merged = try await object.getattr()
        XCTAssertEqual(merged.size, UInt64(data.count))
        for target in object.targets { XCTAssertGreaterThan(target.osc.lastCommitted, 0) }
        // A second client sees the data without the first closing.
        let other = try await fs.mount(client: 1)
        let reader = try await other.open(file.fid, flags: O_RDONLY, credentials: .root)
        let back = try await readAll(reader, size: data.count)
        XCTAssertTrue(back == data)
        try await reader.close()
        try await file.close()
    }

    func testAnOpenFileStaysReadableAfterUnlink() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let data = pattern(2 << 20, seed: 4)
        let writer = try await client.create(parent: client.rootFID, name: "doomed", mode: 0o644, credentials: .root,
                                             layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2))
        try await writer.write(offset: 0, data: buffer(data))
        try await writer.close()
        let reader = try await client.open(writer.fid, flags: O_RDONLY, credentials: .root)
        try await client.unlink(parent: client.rootFID, name: "doomed", credentials: .root)
        await assertErrno(ENOENT) { try await client.lookup(parent: client.rootFID, name: "doomed", credentials: .root) }
        let back = try await readAll(reader, size: data.count)
        XCTAssertTrue(back == data)
        try await reader.close()
    }

    func testTwoClientsSeeEachOthersFilesAfterClose() async throws {
        let fs = try await makeFilesystem()
        let one = try await fs.mount(client: 0)
        let two = try await fs.mount(client: 1)
        let first = pattern(1_500_000, seed: 5)
        let file = try await one.create(parent: one.rootFID, name: "shared", mode: 0o644, credentials: .root,
                                        layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        try await file.write(offset: 0, data: buffer(first))
        try await file.close()

        let seen = try await two.lookup(parent: two.rootFID, name: "shared", credentials: .root)
        XCTAssertEqual(seen.fid, file.fid)
        XCTAssertEqual(seen.size, UInt64(first.count))
        let reader = try await two.open(seen.fid, flags: O_RDWR, credentials: .root)
        let seenByTwo = try await readAll(reader, size: first.count)
        XCTAssertTrue(seenByTwo == first)
        // The second client changes it; the first sees the change at its next open.
        let second = pattern(300_000, seed: 6)
        try await reader.write(offset: 1_400_000, data: buffer(second))
        try await reader.close()

        let expected = Array(first[0..<1_400_000]) + second
        let attributes = try await one.getattr(file.fid, credentials: .root)
        XCTAssertEqual(attributes.size, UInt64(expected.count))
        let again = try await one.open(file.fid, flags: O_RDONLY, credentials: .root)
        let seenByOne = try await readAll(again, size: expected.count + 1)
        XCTAssertTrue(seenByOne == expected)
        try await again.close()
    }

    /// The MDS hears a size at its writer's close: an open before that close takes the OSTs'.
    func testAnOpenSeesATruncateTheMDSHasNotHeardOfYet() async throws {
        let fs = try await makeFilesystem()
        let one = try await fs.mount(client: 0)
        let two = try await fs.mount(client: 1)
        let file = try await one.create(parent: one.rootFID, name: "cut-elsewhere", mode: 0o644, credentials: .root,
                                        layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        let data = pattern(3 << 20, seed: 9)
        try await file.write(offset: 0, data: buffer(data))
        try await file.close()
        let earlier = try await two.open(file.fid, flags: O_RDONLY, credentials: .root)
        XCTAssertEqual(earlier.knownSize, 3 << 20)
        let truncating = try await one.open(file.fid, flags: O_RDWR, credentials: .root)
        try await truncating.truncate(1 << 20)

        let reader = try await two.open(file.fid, flags: O_RDONLY, credentials: .root)
        XCTAssertEqual(reader.knownSize, 1 << 20)
        let seen = try await readAll(reader, size: 3 << 20)
        XCTAssertTrue(seen == Array(data[0..<(1 << 20)]), "read \(seen.count) bytes, not the 1 MiB left")
        try await reader.close()
        // A file open since before the truncate, not changed here, sees it at its next getattr.
        let attributes = try await two.getattr(file.fid, credentials: .root)
        XCTAssertEqual(attributes.size, 1 << 20)
        try await earlier.close()
        try await truncating.close()
    }

    func testTruncateShrinksAndExtendsWithZeros() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let data = pattern(3 << 20, seed: 8)
        let file = try await client.create(parent: client.rootFID, name: "cut", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 64 << 10, stripeCount: 2))
        try await file.write(offset: 0, data: buffer(data))
        let cut = (3 << 19) + 1
        try await file.truncate(UInt64(cut))
        let size = await file.size
        XCTAssertEqual(size, UInt64(cut))
        let kept = try await readAll(file, size: 3 << 20)
        XCTAssertTrue(kept == Array(data[0..<cut]))
        try await file.close()
        let closedSize = try await client.getattr(file.fid, credentials: .root).size
        XCTAssertEqual(closedSize, UInt64(cut))

        // Extending through setattr on the closed file: the new part reads as zeros.
        var change = MDTSetattr()
        change.valid = [.size]
        change.size = 5 << 20
        let attributes = try await client.setattr(file.fid, change, credentials: .root)
        XCTAssertEqual(attributes.size, 5 << 20)
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let all = try await readAll(reader, size: 6 << 20)
        XCTAssertEqual(all.count, 5 << 20)
        XCTAssertTrue(all == Array(data[0..<cut]) + [UInt8](repeating: 0, count: (5 << 20) - cut))
        try await reader.close()

        // O_TRUNC empties it.
        let emptied = try await client.open(file.fid, flags: O_WRONLY | O_TRUNC, credentials: .root)
        try await emptied.close()
        let emptiedSize = try await client.getattr(file.fid, credentials: .root).size
        XCTAssertEqual(emptiedSize, 0)
    }

    func testWritersWaitUnderATinyDirtyLimitAndTheDataArrivesWhole() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount { $0.maxDirtyMB = 1 }
        let file = try await client.create(parent: client.rootFID, name: "throttled", mode: 0o644, credentials: .root,
                                           layout: LustreLayout(stripeSize: 1 << 20, stripeCount: 2))
        let data = pattern(12 << 20, seed: 9)
        var offset = 0
        while offset < data.count {
            try await file.write(offset: UInt64(offset), data: buffer(Array(data[offset..<(offset + (256 << 10))])))
            offset += 256 << 10
        }
        for target in client.lov.allTargets { XCTAssertLessThanOrEqual(target.dirtyLimit.dirtyBytes, 1 << 20) }
        try await file.close()
        let reader = try await client.open(file.fid, flags: O_RDONLY, credentials: .root)
        let throttledBack = try await readAll(reader, size: data.count)
        XCTAssertTrue(throttledBack == data)
        try await reader.close()
    }

    func testReadsOfAWriteOnlyFileAndUseAfterCloseFailWithEBADF() async throws {
        let fs = try await makeFilesystem()
        let client = try await fs.mount()
        let file = try await client.create(parent: client.rootFID, name: "wo", mode: 0o644, credentials: .root,
                                           flags: O_WRONLY)
        await assertErrno(EBADF) { try await file.read(offset: 0, length: 10) }
        try await file.close()
        await assertErrno(EBADF) { try await file.write(offset: 0, data: ByteBuffer(bytes: [1])) }
        await assertErrno(EBADF) { try await file.close() }
    }
}
