import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif
@testable import OSD

/// An engine that passes everything to a real one and remembers the memory it was handed.
final class RecordingEngine: IOEngine {
    let inner: any IOEngine
    let writeAddresses = Mutex<[UInt]>([])
    let readAddresses = Mutex<[UInt]>([])
    /// Whether each write, then each read, went to an `O_DIRECT` descriptor (in call order).
    let directWrites = Mutex<[Bool]>([])
    let directReads = Mutex<[Bool]>([])

    init(_ inner: any IOEngine) { self.inner = inner }

    var kind: IOEngineKind { inner.kind }

    func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int {
        readAddresses.withLock { $0.append(UInt(bitPattern: buffer.baseAddress)) }
        directReads.withLock { $0.append(Self.isDirect(fd)) }
        return try await inner.read(fd: fd, into: buffer, at: offset)
    }

    func write(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int {
        writeAddresses.withLock { $0.append(UInt(bitPattern: buffer.baseAddress)) }
        return try await inner.write(fd: fd, from: buffer, at: offset)
    }

    func fsync(fd: Int32) async throws(LustreError) { try await inner.fsync(fd: fd) }
    func fdatasync(fd: Int32) async throws(LustreError) { try await inner.fdatasync(fd: fd) }

    func submit(_ operations: [IOOperation]) async -> [Result<Int, LustreError>] {
        for operation in operations where operation.direction == .write {
            writeAddresses.withLock { $0.append(UInt(bitPattern: operation.buffer.baseAddress)) }
            directWrites.withLock { $0.append(Self.isDirect(operation.fd)) }
        }
        return await inner.submit(operations)
    }

    func shutdown() { inner.shutdown() }

    private static func isDirect(_ fd: Int32) -> Bool { fcntl(fd, F_GETFL) & O_DIRECT != 0 }
}

@Suite("OSD zero copy")
struct OSDZeroCopyTests {
    @Test("a 1 MiB write reaches the engine from the ByteBuffer's own memory, and a read from disk lands in the returned buffer")
    func noCopy() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        let osd = try await OSDDevice.open(root: scratch.path, options: .init(), engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        let data = ByteBuffer(bytes: pattern(1 << 20))
        let address = data.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        _ = try await osd.write(object1, pieces: [(offset: 0, data: data)])
        #expect(engine.writeAddresses.withLock { $0 }.contains(address))

        // Out of the page cache, so the read has to go to the engine (pages still under
        // writeback survive a DONTNEED: asked again until none is resident).
        #expect(Self.evict("\(scratch.path)/\(object1.path)", length: 1 << 20))
        engine.readAddresses.withLock { $0.removeAll() }
        let back = try await osd.read(object1, offset: 0, length: 1 << 20)
        let readAddress = back.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        // The engine read into the returned buffer itself (past a first part the page cache
        // may still have given, with RWF_NOWAIT).
        let engineReads = engine.readAddresses.withLock { $0 }
        #expect(!engineReads.isEmpty)
        #expect(engineReads.allSatisfy { $0 >= readAddress && $0 < readAddress + (1 << 20) })
        #expect(back == data)
        await osd.close()
    }

    /// Drops the file's pages from the page cache; true once `mincore` shows none resident.
    static func evict(_ path: String, length: Int) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard let map = mmap(nil, length, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { return false }
        defer { munmap(map, length) }
        var resident = [UInt8](repeating: 0, count: (length + page - 1) / page)
        for _ in 0..<50 {
            _ = fsync(fd)
            _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
            guard mincore(map, length, &resident) == 0 else { return false }
            if resident.allSatisfy({ $0 & 1 == 0 }) { return true }
            usleep(20_000)
        }
        return false
    }

    @Test("directWrites: an aligned piece goes to an O_DIRECT descriptor, an unaligned one and reads through the page cache")
    func directWritesOnly() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        var options = OSDDevice.Options()
        options.directWrites = true
        let osd = try await OSDDevice.open(root: scratch.path, options: options, engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        let aligned = alignedBuffer(pattern(1 << 20))
        let unaligned = ByteBuffer(bytes: pattern(5000, seed: 2))
        _ = try await osd.write(object1, pieces: [(offset: 0, data: aligned), (offset: 2 << 20, data: unaligned)])
        #expect(engine.directWrites.withLock { $0 } == [true, false])

        // Out of the page cache, so the read has to go to the engine: buffered, as directIO is off.
        #expect(Self.evict("\(scratch.path)/\(object1.path)", length: 1 << 20))
        let back = try await osd.read(object1, offset: 0, length: 1 << 20)
        #expect(back == aligned)
        #expect(!engine.directReads.withLock { $0 }.isEmpty)
        #expect(!engine.directReads.withLock { $0 }.contains(true))
        let tail = try await osd.read(object1, offset: 2 << 20, length: 5000)
        #expect(tail == unaligned)
        await osd.close()
    }

    @Test("readcache_max_io_mb: a longer read goes to the disk with O_DIRECT and sees the page cache's newer bytes; a shorter one stays cached")
    func longReadsBypassThePageCache() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        var options = OSDDevice.Options()
        options.directWrites = true
        #expect(options.readCacheMaxIOMB == 1)
        let osd = try await OSDDevice.open(root: scratch.path, options: options, engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        // 3 MiB and a tail that is not a whole page, written direct; then a small buffered
        // write that only the page cache holds until written back.
        let size = (3 << 20) + 1000
        var expected = pattern(size)
        _ = try await osd.write(object1, pieces: [(offset: 0, data: alignedBuffer(Array(expected[..<(3 << 20)]))),
                                                  (offset: 3 << 20, data: ByteBuffer(bytes: expected[(3 << 20)...]))])
        let patch = pattern(5000, seed: 7)
        _ = try await osd.write(object1, pieces: [(offset: 1_000_000, data: ByteBuffer(bytes: patch))], mayBlock: true)
        expected.replaceSubrange(1_000_000..<1_005_000, with: patch)

        // Longer than 1 MiB, from an unaligned offset to past the end: one O_DIRECT span.
        engine.directReads.withLock { $0.removeAll() }
        var back = try await osd.read(object1, offset: 777, length: 4 << 20)
        #expect(back == ByteBuffer(bytes: expected[777...]))
        #expect(engine.directReads.withLock { $0 } == [true])
        // 1 MiB is not longer than the limit: through the page cache (evicted, so the engine reads).
        #expect(Self.evict("\(scratch.path)/\(object1.path)", length: size))
        engine.directReads.withLock { $0.removeAll() }
        back = try await osd.read(object1, offset: 1 << 20, length: 1 << 20)
        #expect(back == ByteBuffer(bytes: expected[(1 << 20)..<(2 << 20)]))
        #expect(engine.directReads.withLock { $0 } == [false])
        // Lowered at run time, as `lctl set_param osd-ldiskfs.*.readcache_max_io_mb=0` does.
        try osd.readCacheMaxIOMB.set(text: "0")
        engine.directReads.withLock { $0.removeAll() }
        back = try await osd.read(object1, offset: 8192, length: 4096)
        #expect(back == ByteBuffer(bytes: expected[8192..<12288]))
        #expect(engine.directReads.withLock { $0 } == [true])
        #expect(throws: LustreError.self) { try osd.readCacheMaxIOMB.set(text: "257") }
        await osd.close()
    }

    @Test("a read of bytes the page cache holds is copied at once, without the engine")
    func cachedRead() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        let osd = try await OSDDevice.open(root: scratch.path, options: .init(), engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        let data = ByteBuffer(bytes: pattern(64 << 10))
        _ = try await osd.write(object1, pieces: [(offset: 0, data: data)])
        engine.readAddresses.withLock { $0.removeAll() }
        let back = try await osd.read(object1, offset: 4096, length: 8192)
        #expect(engine.readAddresses.withLock { $0 }.isEmpty)
        #expect(back == data.getSlice(at: 4096, length: 8192))
        await osd.close()
    }

    @Test("a lone small read of bytes on disk is read on the caller's thread, without the engine; a large one still goes to it")
    func blockingSmallRead() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        let osd = try await OSDDevice.open(root: scratch.path, options: .init(), engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        let data = ByteBuffer(bytes: pattern(1 << 20))
        _ = try await osd.write(object1, pieces: [(offset: 0, data: data)])
        let path = "\(scratch.path)/\(object1.path)"
        #expect(Self.evict(path, length: 1 << 20))
        engine.readAddresses.withLock { $0.removeAll() }
        var back = try await osd.read(object1, offset: 8192, length: 4096, mayBlock: true)
        #expect(back == data.getSlice(at: 8192, length: 4096))
        back = try await osd.read(object1, offset: 100_000, length: OSDDevice.blockingReadLimit, mayBlock: true)
        #expect(back == data.getSlice(at: 100_000, length: OSDDevice.blockingReadLimit))
        // Across the end of the object: what there is, short.
        #expect(Self.evict(path, length: 1 << 20))
        back = try await osd.read(object1, offset: (1 << 20) - 1000, length: 4096, mayBlock: true)
        #expect(back == data.getSlice(at: (1 << 20) - 1000, length: 1000))
        #expect(engine.readAddresses.withLock { $0 }.isEmpty)
        // Past the limit, or when the caller may not wait, the engine reads what the cache lacks.
        // The kernel starts readahead for the RWF_NOWAIT attempt, and a fast disk may finish it
        // before the attempt gives up (then the page cache held it all, rightly without the
        // engine): a few tries, at least one through the engine.
        let large = OSDDevice.blockingReadLimit + 4096
        let largeRead = try await Self.someReadGoesToTheEngine(engine, path) {
            let back = try await osd.read(object1, offset: 0, length: large, mayBlock: true)
            #expect(back == data.getSlice(at: 0, length: large))
        }
        #expect(largeRead, "a read past blockingReadLimit")
        let mayNotBlock = try await Self.someReadGoesToTheEngine(engine, path) {
            let back = try await osd.read(object1, offset: 512 << 10, length: 4096)
            #expect(back == data.getSlice(at: 512 << 10, length: 4096))
        }
        #expect(mayNotBlock, "a small read whose caller may not wait")
        await osd.close()
    }

    /// Whether `read`, after the page cache lost the file at `path`, used the engine in one of
    /// five tries.
    static func someReadGoesToTheEngine(_ engine: RecordingEngine, _ path: String,
                                        _ read: () async throws -> Void) async throws -> Bool {
        for _ in 0..<5 {
            #expect(evict(path, length: 1 << 20))
            engine.readAddresses.withLock { $0.removeAll() }
            try await read()
            if !engine.readAddresses.withLock({ $0 }).isEmpty { return true }
        }
        return false
    }

    @Test("lone small writes go to the page cache on the caller's thread, without the engine; larger ones still through it")
    func blockingSmallWrite() async throws {
        let scratch = try ScratchDirectory()
        let engine = RecordingEngine(try makeIOEngine(kind: .ioUring, queueDepth: 8))
        let osd = try await OSDDevice.open(root: scratch.path, options: .init(), engine: engine)
        _ = try await osd.create(object1, attributes: ObdAttributes())
        let first = ByteBuffer(bytes: pattern(5000, seed: 3)), second = ByteBuffer(bytes: pattern(3000, seed: 4))
        let transno = try await osd.write(object1, pieces: [(offset: 100, data: first), (offset: 9000, data: second)],
                                          mayBlock: true)
        #expect(transno > 0)
        #expect(engine.writeAddresses.withLock { $0 }.isEmpty)
        #expect(try await osd.read(object1, offset: 100, length: 5000) == first)
        #expect(try await osd.read(object1, offset: 9000, length: 3000) == second)
        #expect(try await osd.getattr(object1).size == 12000)
        let large = ByteBuffer(bytes: pattern(OSDDevice.blockingWriteLimit + 1, seed: 5))
        _ = try await osd.write(object1, pieces: [(offset: 1 << 20, data: large)], mayBlock: true)
        // Through the engine (which may come back short under load: the rest goes through it
        // again, so the count is not exact).
        let largeAddress = large.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(engine.writeAddresses.withLock { $0 }.first == largeAddress)
        let afterLarge = engine.writeAddresses.withLock { $0 }.count
        _ = try await osd.write(object1, pieces: [(offset: 0, data: second)])
        let secondAddress = second.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(engine.writeAddresses.withLock { $0 }.dropFirst(afterLarge).first == secondAddress,
                "a small write without mayBlock still goes through the engine")
        #expect(try await osd.read(object1, offset: 1 << 20, length: large.readableBytes) == large)
        // Committed like any write: durable after sync.
        _ = try await osd.sync()
        await osd.close()
    }
}
