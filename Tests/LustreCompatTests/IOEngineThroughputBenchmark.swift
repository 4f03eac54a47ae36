import Foundation
import Glibc
import LibCFS
import Testing
@testable import LustreCompat

/// Throughput of 1 MiB buffered writes then reads over a 256 MiB file at QD 32, per engine.
/// Not asserted, and off by default (it wants a quiet machine): run with
/// `LUSTRE_COMPAT_BENCH=1 swift test --filter IOEngineThroughputBenchmark`
/// (add `LUSTRE_COMPAT_BENCH_UNREGISTERED=1` to keep the io_uring pool unregistered).
/// Each engine runs twice, interleaved: the first case of a run pays for writeback left by
/// earlier runs, whatever the engine, so compare the later ones.
@Suite("IOEngine throughput", .serialized,
       .enabled(if: ProcessInfo.processInfo.environment["LUSTRE_COMPAT_BENCH"] != nil))
struct IOEngineThroughputBenchmark {
    static let block = 1 << 20
    static let fileSize = 256 << 20
    static let queueDepth = 32

    @Test("1 MiB blocks, QD 32, 256 MiB file", arguments: [IOEngineKind.sync, .ioUring, .sync, .ioUring])
    func throughput(kind: IOEngineKind) async throws {
        let engine = try makeIOEngine(kind: kind, queueDepth: Self.queueDepth)
        defer { engine.shutdown() }
        let register = ProcessInfo.processInfo.environment["LUSTRE_COMPAT_BENCH_UNREGISTERED"] == nil
        let pool = try IOBufferPool(slabSize: Self.block, slabCount: Self.queueDepth,
                                    registeringWith: register ? engine : nil)
        let file = try ScratchFile()
        _ = posix_fallocate(file.fd, 0, off_t(Self.fileSize))  // as fio does (pitfall 9)
        let blocks = Self.fileSize / Self.block
        var slabs = [UnsafeMutableRawBufferPointer]()
        for _ in 0..<Self.queueDepth {
            let slab = await pool.acquire()
            fillPattern(slab.buffer, seed: slab.index)
            slabs.append(slab.buffer)
            _ = consume slab  // held for the whole run; the pool outlives the test body
        }
        nonisolated(unsafe) let buffers = slabs

        func pass(_ direction: IOOperation.Direction) async throws -> Double {
            let start = ContinuousClock.now
            // QD workers, each keeping one 1 MiB request in flight.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<Self.queueDepth {
                    let fd = file.fd
                    group.addTask {
                        var index = worker
                        while index < blocks {
                            let offset = Int64(index * Self.block)
                            let n: Int
                            switch direction {
                            case .write: n = try await engine.write(fd: fd, from: UnsafeRawBufferPointer(buffers[worker]), at: offset)
                            case .read: n = try await engine.read(fd: fd, into: buffers[worker], at: offset)
                            }
                            if n != Self.block { throw LustreError(errno: EIO, "short \(direction) \(n)") }
                            index += Self.queueDepth
                        }
                    }
                }
                try await group.waitForAll()
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return Double(Self.fileSize) / seconds / 1e9
        }

        let write = try await pass(.write)
        try await engine.fdatasync(fd: file.fd)
        let read = try await pass(.read)
        print(String(format: "io-engine %@: write %.2f GB/s, read %.2f GB/s (registered: %@)",
                     kind.rawValue, write, read, pool.isRegistered ? "yes" : "no"))
        print(String(format: "RESULT io_engine %@_write_1m_qd32 %.3f GB/s", kind.rawValue, write))
        print(String(format: "RESULT io_engine %@_read_1m_qd32 %.3f GB/s", kind.rawValue, read))
    }
}
