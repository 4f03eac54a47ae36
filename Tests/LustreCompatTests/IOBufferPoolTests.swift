import Glibc
import LibCFS
import Testing
@testable import LustreCompat

@Suite("IOBufferPool and AlignedBuffer")
struct IOBufferPoolTests {
    @Test("slabs registered with io_uring go through read_fixed/write_fixed")
    func registeredSlabsUseFixedBufferIO() async throws {
        let engine = try makeIOEngine(kind: .ioUring)
        defer { engine.shutdown() }
        let pool = try IOBufferPool(slabSize: 1 << 20, slabCount: 4, registeringWith: engine)
        #expect(pool.isRegistered)
        let ring = try #require((engine as? IOEngineHandle<URingBackend>)?.backend)
        let file = try ScratchFile()
        let out = await pool.acquire()
        let back = await pool.acquire()
        fillPattern(out.buffer, seed: 11)
        let before = ring.fixedSubmissionCount
        try await engine.writeAll(fd: file.fd, from: UnsafeRawBufferPointer(out.buffer), at: 0)
        let read = try await engine.readFully(fd: file.fd, into: back.buffer, at: 0)
        #expect(read == 1 << 20)
        #expect(sameBytes(out.buffer, back.buffer))
        #expect(ring.fixedSubmissionCount - before == 2)
        pool.release(out)
        pool.release(back)
    }

    @Test("memory outside a registered slab goes through plain read/write")
    func unregisteredMemoryUsesPlainIO() async throws {
        let engine = try makeIOEngine(kind: .ioUring)
        defer { engine.shutdown() }
        let pool = try IOBufferPool(slabSize: 64 << 10, slabCount: 2, registeringWith: engine)
        let ring = try #require((engine as? IOEngineHandle<URingBackend>)?.backend)
        let file = try ScratchFile()
        let slab = await pool.acquire()
        let other = try AlignedBuffer(byteCount: 128 << 10)
        let before = ring.fixedSubmissionCount
        // An AlignedBuffer, and a range straddling two slabs, are not one fixed buffer.
        _ = try await engine.write(fd: file.fd, from: UnsafeRawBufferPointer(other.bytes), at: 0)
        let straddle = UnsafeRawBufferPointer(start: slab.buffer.baseAddress! + (32 << 10), count: 64 << 10)
        if slab.index == 0 {
            _ = try await engine.write(fd: file.fd, from: straddle, at: 0)
        }
        #expect(ring.fixedSubmissionCount == before)
        pool.release(slab)
    }

    @Test("a pool for a non-io_uring engine works unregistered", arguments: [IOEngineKind.libaio, .sync])
    func poolForOtherEnginesIsUnregistered(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let pool = try IOBufferPool(slabSize: 1 << 20, slabCount: 2, registeringWith: engine)
        #expect(!pool.isRegistered)
        let file = try ScratchFile(direct: true)
        let out = await pool.acquire()
        let back = await pool.acquire()
        fillPattern(out.buffer, seed: 12)
        try await engine.writeAll(fd: file.fd, from: UnsafeRawBufferPointer(out.buffer), at: 0)
        _ = try await engine.readFully(fd: file.fd, into: back.buffer, at: 0)
        #expect(sameBytes(out.buffer, back.buffer))
        pool.release(out)
        pool.release(back)
    }

    @Test("acquire waits for a release when every slab is taken")
    func acquireWaitsForRelease() async throws {
        let pool = try IOBufferPool(slabSize: 4096, slabCount: 1)
        guard let only = pool.tryAcquire() else {
            Issue.record("fresh pool had no free slab")
            return
        }
        if let extra = pool.tryAcquire() {
            Issue.record("a one-slab pool handed out two slabs")
            pool.release(extra)
        }
        let waiter = Task { () -> Int in
            let slab = await pool.acquire()
            let index = slab.index
            pool.release(slab)
            return index
        }
        try await Task.sleep(for: .milliseconds(20))
        #expect(pool.freeCount == 0)
        pool.release(only)
        #expect(await waiter.value == 0)
        #expect(pool.freeCount == 1)
    }

    @Test("slabs and aligned buffers are 4096-aligned")
    func buffersAreAligned() async throws {
        let pool = try IOBufferPool(slabSize: 8192, slabCount: 3)
        let a = await pool.acquire(), b = await pool.acquire(), c = await pool.acquire()
        for buffer in [a.buffer, b.buffer, c.buffer] {
            #expect(Int(bitPattern: buffer.baseAddress) % 4096 == 0)
            #expect(buffer.count == 8192)
        }
        pool.release(a)
        pool.release(b)
        pool.release(c)
        let buffer = try AlignedBuffer(byteCount: 12345)
        #expect(Int(bitPattern: buffer.bytes.baseAddress) % 4096 == 0)
        #expect(buffer.count == 12345)
    }

    @Test("a slab size that is not a multiple of 4096 is refused")
    func misalignedSlabSizeIsRefused() {
        do {
            _ = try IOBufferPool(slabSize: 1000, slabCount: 1)
            Issue.record("pool with 1000-byte slabs created")
        } catch {
            #expect(error.errno == EINVAL)
        }
    }
}
