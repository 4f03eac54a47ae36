import Glibc
import LibCFS
import Testing
@testable import LustreCompat

/// One suite, run against every engine.  libaio gets O_DIRECT files and aligned I/O, the only
/// use it is meant for; the others get plain buffered files.
@Suite("IOEngine behaviour, every engine")
struct IOEngineTests {
    static let allKinds = IOEngineKind.allCases

    private func scratch(_ kind: IOEngineKind, contents: [UInt8]? = nil) throws -> ScratchFile {
        try ScratchFile(direct: kind == .libaio, contents: contents)
    }

    @Test("a forced kind is the kind you get", arguments: allKinds)
    func forcedKindIsHonoured(kind: IOEngineKind) throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        #expect(engine.kind == kind)
    }

    @Test("written bytes read back identical", arguments: allKinds)
    func writeThenReadRoundTrips(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let out = try AlignedBuffer(byteCount: 64 << 10)
        let back = try AlignedBuffer(byteCount: 64 << 10)
        fillPattern(out.bytes, seed: 1)
        let written = try await engine.write(fd: file.fd, from: UnsafeRawBufferPointer(out.bytes), at: 4096)
        #expect(written == out.count)
        let read = try await engine.read(fd: file.fd, into: back.bytes, at: 4096)
        #expect(read == back.count)
        #expect(sameBytes(out.bytes, back.bytes))
    }

    @Test("fsync succeeds on a written file", arguments: allKinds)
    func fsyncSucceeds(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let buffer = try AlignedBuffer(byteCount: 4096)
        fillPattern(buffer.bytes, seed: 2)
        _ = try await engine.write(fd: file.fd, from: UnsafeRawBufferPointer(buffer.bytes), at: 0)
        try await engine.fsync(fd: file.fd)
        #expect(file.size == 4096)
    }

    @Test("fdatasync succeeds on a written file", arguments: allKinds)
    func fdatasyncSucceeds(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let buffer = try AlignedBuffer(byteCount: 4096)
        fillPattern(buffer.bytes, seed: 3)
        _ = try await engine.write(fd: file.fd, from: UnsafeRawBufferPointer(buffer.bytes), at: 8192)
        try await engine.fdatasync(fd: file.fd)
        #expect(file.size == 12288)
    }

    @Test("a read across end of file is short, the next one returns 0", arguments: allKinds)
    func readAtEndOfFileIsShortThenZero(kind: IOEngineKind) async throws {
        let contents = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind, contents: contents)
        let buffer = try AlignedBuffer(byteCount: 8192)
        let first = try await engine.read(fd: file.fd, into: buffer.bytes, at: 0)
        #expect(first == 5000)
        #expect(Array(buffer.bytes[0..<5000]) == contents)
        let second = try await engine.read(fd: file.fd, into: buffer.bytes, at: 8192)
        #expect(second == 0)
    }

    @Test("8 MiB and more move in one call pair, and through writeAll/readFully", arguments: allKinds)
    func largeIORoundTrips(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let size = 9 << 20
        let out = try AlignedBuffer(byteCount: size)
        let back = try AlignedBuffer(byteCount: size)
        fillPattern(out.bytes, seed: 4)
        try await engine.writeAll(fd: file.fd, from: UnsafeRawBufferPointer(out.bytes), at: 1 << 20)
        let read = try await engine.readFully(fd: file.fd, into: back.bytes, at: 1 << 20)
        #expect(read == size)
        #expect(sameBytes(out.bytes, back.bytes))
        #expect(file.size == size + (1 << 20))
    }

    @Test("unaligned offsets and lengths work (buffered engines)", arguments: [IOEngineKind.ioUring, .sync])
    func unalignedIORoundTrips(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let out = try AlignedBuffer(byteCount: 10_007)
        fillPattern(out.bytes, seed: 5)
        let payload = UnsafeRawBufferPointer(rebasing: out.bytes[3..<10_006])  // unaligned address too
        try await engine.writeAll(fd: file.fd, from: payload, at: 4097)
        let back = try AlignedBuffer(byteCount: 10_010)
        let window = UnsafeMutableRawBufferPointer(rebasing: back.bytes[1..<999])
        let read = try await engine.read(fd: file.fd, into: window, at: 4098)
        #expect(read == 998)
        #expect(Array(window) == Array(payload[1..<999]))
    }

    @Test("256 concurrent requests, more than the queue depth, all land intact", arguments: allKinds)
    func manyConcurrentRequestsComplete(kind: IOEngineKind) async throws {
        // Depth 16: most requests must queue behind the ring/context and wait their turn.
        let engine = try makeIOEngine(kind: kind, queueDepth: 16)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let block = 4096, count = 256
        let out = try AlignedBuffer(byteCount: block * count)
        let back = try AlignedBuffer(byteCount: block * count)
        fillPattern(out.bytes, seed: 6)
        let fd = file.fd
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<count {
                let slice = UnsafeRawBufferPointer(rebasing: out.bytes[(i * block)..<((i + 1) * block)])
                nonisolated(unsafe) let chunk = slice
                group.addTask { try await engine.write(fd: fd, from: chunk, at: Int64(i * block)) }
            }
            for try await n in group { #expect(n == block) }
        }
        try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<count {
                nonisolated(unsafe) let chunk = UnsafeMutableRawBufferPointer(rebasing: back.bytes[(i * block)..<((i + 1) * block)])
                group.addTask { try await engine.read(fd: fd, into: chunk, at: Int64(i * block)) }
            }
            for try await n in group { #expect(n == block) }
        }
        #expect(sameBytes(out.bytes, back.bytes))
    }

    @Test("a batch returns one result per operation, in order, errors in place", arguments: allKinds)
    func batchReturnsPerOperationResults(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind, queueDepth: 8)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let block = 8192, count = 40
        let out = try AlignedBuffer(byteCount: block * count)
        let back = try AlignedBuffer(byteCount: block * count)
        fillPattern(out.bytes, seed: 7)
        let writes = (0..<count).map { i in
            IOOperation.write(fd: file.fd, from: UnsafeRawBufferPointer(rebasing: out.bytes[(i * block)..<((i + 1) * block)]),
                              at: Int64(i * block))
        }
        let written = await engine.submit(writes)
        #expect(written.count == count)
        #expect(written.allSatisfy { (try? $0.get()) == block })

        var reads = (0..<count).map { i in
            IOOperation.read(fd: file.fd, into: UnsafeMutableRawBufferPointer(rebasing: back.bytes[(i * block)..<((i + 1) * block)]),
                             at: Int64(i * block))
        }
        reads[5] = .read(fd: 19_999, into: UnsafeMutableRawBufferPointer(rebasing: back.bytes[(5 * block)..<(6 * block)]), at: 0)
        let results = await engine.submit(reads)
        for (i, result) in results.enumerated() {
            if i == 5 {
                guard case .failure(let error) = result else {
                    Issue.record("read on a bad descriptor succeeded in a batch")
                    continue
                }
                #expect(error.errno == EBADF)
            } else {
                #expect((try? result.get()) == block)
                #expect(sameBytes(UnsafeRawBufferPointer(rebasing: out.bytes[(i * block)..<((i + 1) * block)]),
                                  UnsafeRawBufferPointer(rebasing: back.bytes[(i * block)..<((i + 1) * block)])))
            }
        }
    }

    @Test("a closed descriptor fails with EBADF", arguments: allKinds)
    func closedDescriptorFailsWithEBADF(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        // Duplicate high and close: other tests in parallel take the lowest free numbers, so this
        // one stays closed rather than being reused under us. Each kind its own range: the cases
        // run in parallel, and one's closed number was another's next duplicate.
        let low = open("/dev/null", O_RDONLY)
        let fd = fcntl(low, F_DUPFD_CLOEXEC, 15_000 + 1_000 * Int32(Self.allKinds.firstIndex(of: kind)!))
        close(low)
        close(fd)
        let buffer = try AlignedBuffer(byteCount: 4096)
        do {
            _ = try await engine.read(fd: fd, into: buffer.bytes, at: 0)
            Issue.record("read on a closed descriptor succeeded")
        } catch {
            #expect(error.errno == EBADF)
        }
    }

    @Test("a negative offset is refused with EINVAL", arguments: allKinds)
    func negativeOffsetFailsWithEINVAL(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        defer { engine.shutdown() }
        let file = try scratch(kind)
        let buffer = try AlignedBuffer(byteCount: 4096)
        do {
            _ = try await engine.read(fd: file.fd, into: buffer.bytes, at: -1)
            Issue.record("read at offset -1 succeeded")
        } catch {
            #expect(error.errno == EINVAL)
        }
    }

    @Test("after shutdown requests fail with ESHUTDOWN and no engine thread is left", arguments: allKinds)
    func shutdownRefusesRequestsAndStopsThreads(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind)
        let ids = try await startedThreadIDs(engine)
        #expect(!ids.isEmpty)
        #expect(ids.allSatisfy(threadExists))
        engine.shutdown()
        engine.shutdown()  // idempotent
        #expect(!ids.contains(where: threadExists))
        let file = try scratch(kind)
        let buffer = try AlignedBuffer(byteCount: 4096)
        do {
            _ = try await engine.write(fd: file.fd, from: UnsafeRawBufferPointer(buffer.bytes), at: 0)
            Issue.record("write after shutdown succeeded")
        } catch {
            #expect(error.errno == ESHUTDOWN)
        }
    }

    @Test("dropping the last reference stops the engine's threads", arguments: allKinds)
    func releasingEngineStopsThreads(kind: IOEngineKind) async throws {
        var engine: (any IOEngine)? = try makeIOEngine(kind: kind)
        let ids = try await startedThreadIDs(engine!)
        #expect(ids.allSatisfy(threadExists))
        engine = nil
        #expect(engine == nil)
        #expect(!ids.contains(where: threadExists))
    }
}
