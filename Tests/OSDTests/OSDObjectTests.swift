import Glibc
import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import Testing
@testable import OSD

/// Object operations, once per engine (io_uring buffered and direct, libaio direct, sync).
/// Sizes and offsets are multiples of 4 KiB so the direct cases stay on the O_DIRECT path.
@Suite("OSD objects")
struct OSDObjectTests {
    @Test("create, write, read back, destroy", arguments: EngineCase.all)
    func createWriteReadDestroy(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, scratch in
            #expect(osd.engineKind == engine.kind)
            _ = try await osd.create(object1, attributes: ObdAttributes())
            #expect(scratch.exists("O/0/d1/1"))
            let data = pattern(64 << 10)
            _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(Array(data[..<(32 << 10)]))),
                                                     (offset: 32 << 10, data: alignedBuffer(Array(data[(32 << 10)...])))])
            #expect(try await osd.read(object1, offset: 0, length: data.count).bytes == data)
            #expect(try await osd.read(object1, offset: 8192, length: 4096).bytes == Array(data[8192..<12288]))
            _ = try await osd.destroy(object1)
            #expect(!scratch.exists("O/0/d1/1"))
            await expectErrno(ENOENT, "read after destroy") { _ = try await osd.read(object1, offset: 0, length: 4096) }
        }
    }

    @Test("unaligned pieces are written and read correctly", arguments: EngineCase.all)
    func unalignedPieces(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let data = pattern(10_000, seed: 3)
            _ = try await osd.write(object1, pieces: [(offset: 123, data: ByteBuffer(bytes: data))])
            #expect(try await osd.read(object1, offset: 123, length: data.count).bytes == data)
            #expect(try await osd.read(object1, offset: 1000, length: 50).bytes == Array(data[877..<927]))
        }
    }

    @Test("a sparse object reads zeros in its holes", arguments: EngineCase.all)
    func sparseReadsZeros(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let data = pattern(4096)
            _ = try await osd.write(object1, pieces: [(offset: 1 << 20, data: alignedBuffer(data))])
            let all = try await osd.read(object1, offset: 0, length: (1 << 20) + 4096).bytes
            #expect(all.count == (1 << 20) + 4096)
            #expect(all[..<(1 << 20)].allSatisfy { $0 == 0 })
            #expect(Array(all[(1 << 20)...]) == data)
        }
    }

    @Test("a read across end of file is short; at or past it, empty", arguments: EngineCase.all)
    func readAtEOFIsShort(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let data = pattern(8192)
            _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(data))])
            #expect(try await osd.read(object1, offset: 4096, length: 8192).bytes == Array(data[4096...]))
            #expect(try await osd.read(object1, offset: 8192, length: 4096).readableBytes == 0)
            #expect(try await osd.read(object1, offset: 1 << 30, length: 4096).readableBytes == 0)
        }
    }

    @Test("getattr reports size and allocated blocks after writes", arguments: EngineCase.all)
    func getattrSizeAndBlocks(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(pattern(64 << 10)))])
            _ = try await osd.sync()
            let attributes = try await osd.getattr(object1)
            #expect(attributes.size == 64 << 10)
            #expect(attributes.blocks >= 128)  // 512-byte units
            #expect(attributes.blockSize == 4096)
            #expect(attributes.valid.isSuperset(of: [.size, .blocks, .blockSize, .mtime, .mode]))
            #expect(attributes.mode & UInt32(S_IFMT) == UInt32(S_IFREG))
            #expect(attributes.id == object1)
        }
    }

    @Test("setattr with a size truncates the object", arguments: EngineCase.all)
    func setattrTruncates(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let data = pattern(16384)
            _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(data))])
            var attributes = ObdAttributes()
            attributes.valid = [.size]
            attributes.size = 4096
            _ = try await osd.setattr(object1, attributes)
            #expect(try await osd.getattr(object1).size == 4096)
            #expect(try await osd.read(object1, offset: 0, length: 16384).bytes == Array(data[..<4096]))
        }
    }

    @Test("punch frees a range and keeps the size; to EOF it truncates", arguments: EngineCase.all)
    func punch(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let data = pattern(16384)
            _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(data))])
            _ = try await osd.punch(object1, start: 4096, end: 8192)
            let after = try await osd.read(object1, offset: 0, length: 16384).bytes
            #expect(after.count == 16384)
            #expect(Array(after[..<4096]) == Array(data[..<4096]))
            #expect(after[4096..<8192].allSatisfy { $0 == 0 })
            #expect(Array(after[8192...]) == Array(data[8192...]))
            #expect(try await osd.getattr(object1).size == 16384)
            _ = try await osd.punch(object1, start: 12288, end: .max)
            #expect(try await osd.getattr(object1).size == 12288)
        }
    }

    @Test("fallocate allocates a range: the object grows to its end unless the size is kept")
    func fallocate() async throws {
        try await withOSD(EngineCase.all[0].options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            #expect(try await osd.fallocate(object1, start: 0, end: 1 << 20, keepSize: true) > 0)
            var attributes = try await osd.getattr(object1)
            #expect(attributes.size == 0 && attributes.blocks >= (1 << 20) / 512)
            _ = try await osd.fallocate(object1, start: 1 << 20, end: 3 << 20, keepSize: false)
            attributes = try await osd.getattr(object1)
            #expect(attributes.size == 3 << 20 && attributes.blocks >= (3 << 20) / 512)
            #expect(try await osd.read(object1, offset: 0, length: 8192).bytes.allSatisfy { $0 == 0 })
            await #expect(throws: LustreError.self) { _ = try await osd.fallocate(object1, start: 5, end: 5, keepSize: false) }
        }
    }

    @Test("seek finds an object's data and holes as lseek does; the end is a hole, no data past the last is nil")
    func seekDataAndHoles() async throws {
        try await withOSD(EngineCase.all[0].options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            _ = try await osd.write(object1, pieces: [(offset: 1 << 20, data: ByteBuffer(bytes: [UInt8](repeating: 7, count: 8192)))])
            _ = try await osd.fallocate(object1, start: 1 << 20, end: 4 << 20, keepSize: false)
            _ = try await osd.punch(object1, start: 2 << 20, end: 3 << 20)
            #expect(try osd.seek(object1, offset: 0, data: true) == 1 << 20)
            #expect(try osd.seek(object1, offset: 0, data: false) == 0)
            #expect(try osd.seek(object1, offset: 1 << 20, data: false) >= (1 << 20) + 8192)
            #expect(try osd.seek(object1, offset: 4 << 20, data: false) == 4 << 20)
            #expect(throws: LustreError.self) { _ = try osd.seek(object1, offset: 4 << 20, data: true) }
        }
    }

    @Test("the parent FID and stripe index round-trip through the xattr", arguments: EngineCase.all)
    func parentFIDRoundTrip(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            var attributes = ObdAttributes()
            attributes.valid = [.fid]
            attributes.parentFID = LustreFID(sequence: 0x2_0000_0401, objectID: 0x1234)
            attributes.stripeIndex = 3
            attributes.stripeCount = 4
            _ = try await osd.create(object1, attributes: attributes)
            var got = try await osd.getattr(object1)
            #expect(got.valid.contains(.fid))
            #expect(got.parentFID == attributes.parentFID)
            #expect(got.stripeIndex == 3)
            #expect(got.stripeCount == 4)

            attributes.parentFID = LustreFID(sequence: 0x2_0000_0402, objectID: 7)
            attributes.stripeIndex = 1
            _ = try await osd.setattr(object1, attributes)
            got = try await osd.getattr(object1)
            #expect(got.parentFID == attributes.parentFID)
            #expect(got.stripeIndex == 1)

            _ = try await osd.create(object2, attributes: ObdAttributes())
            #expect(try await !osd.getattr(object2).valid.contains(.fid))
        }
    }

    @Test("setattr sets mode, owner and times", arguments: EngineCase.all)
    func setattrModeOwnerTimes(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            var attributes = ObdAttributes()
            attributes.valid = [.mode, .uid, .gid, .atime, .mtime]
            attributes.mode = 0o640
            attributes.uid = getuid()
            attributes.gid = getgid()
            attributes.atime = 1_000_000
            attributes.mtime = 2_000_000
            _ = try await osd.create(object1, attributes: attributes)
            let got = try await osd.getattr(object1)
            #expect(got.mode & 0o7777 == 0o640)
            #expect(got.uid == getuid() && got.gid == getgid())
            #expect(got.atime == 1_000_000)
            #expect(got.mtime == 2_000_000)
        }
    }

    @Test("operations on an unknown object fail with ENOENT", arguments: EngineCase.all)
    func unknownObjectIsENOENT(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            let missing = OSTObjectID(sequence: 0, objectID: 99)
            await expectErrno(ENOENT, "getattr") { _ = try await osd.getattr(missing) }
            await expectErrno(ENOENT, "read") { _ = try await osd.read(missing, offset: 0, length: 4096) }
            await expectErrno(ENOENT, "write") {
                _ = try await osd.write(missing, pieces: [(offset: 0, data: alignedBuffer(pattern(4096)))])
            }
            await expectErrno(ENOENT, "setattr") { _ = try await osd.setattr(missing, ObdAttributes()) }
            await expectErrno(ENOENT, "punch") { _ = try await osd.punch(missing, start: 0, end: .max) }
            await expectErrno(ENOENT, "destroy") { _ = try await osd.destroy(missing) }
        }
    }

    @Test("offsets beyond the largest object are EFBIG, overflowing ones EINVAL", arguments: EngineCase.all)
    func offsetOverflow(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            let page = alignedBuffer(pattern(4096))
            await expectErrno(EINVAL, "write wrapping") { _ = try await osd.write(object1, pieces: [(offset: .max - 100, data: page)]) }
            await expectErrno(EFBIG, "write at 2^63") { _ = try await osd.write(object1, pieces: [(offset: 1 << 63, data: page)]) }
            await expectErrno(EFBIG, "write past max size") {
                _ = try await osd.write(object1, pieces: [(offset: OSDDevice.maxObjectSize, data: page)])
            }
            await expectErrno(EINVAL, "read wrapping") { _ = try await osd.read(object1, offset: .max - 100, length: 4096) }
            await expectErrno(EFBIG, "read at 2^63") { _ = try await osd.read(object1, offset: 1 << 63, length: 4096) }
            await expectErrno(EINVAL, "negative length") { _ = try await osd.read(object1, offset: 0, length: -1) }
            await expectErrno(EINVAL, "punch backwards") { _ = try await osd.punch(object1, start: 8192, end: 4096) }
            // The largest object's last page is still writable.
            _ = try await osd.write(object1, pieces: [(offset: OSDDevice.maxObjectSize - 4096, data: page)])
            #expect(try await osd.getattr(object1).size == OSDDevice.maxObjectSize)
        }
    }

    @Test("creating an existing object fails with EEXIST", arguments: EngineCase.all)
    func doubleCreateIsEEXIST(engine: EngineCase) async throws {
        try await withOSD(engine.options) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            await expectErrno(EEXIST) { _ = try await osd.create(object1, attributes: ObdAttributes()) }
        }
    }
}
