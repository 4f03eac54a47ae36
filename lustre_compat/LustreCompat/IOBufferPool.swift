import Glibc
import LibCFS
import Synchronization

/// A fixed set of equal, aligned I/O buffers ("slabs"), registered with an io_uring engine
/// when possible.
///
/// Registration lets the kernel skip pinning the pages on every request: the io_uring engine
/// recognises slab memory by address and uses `read_fixed`/`write_fixed` for it, with no change
/// for callers.  It needs locked memory (`RLIMIT_MEMLOCK`, or `CAP_IPC_LOCK`); when the kernel
/// says ENOMEM or EPERM, or the engine is not io_uring, or the ring already has a pool, the
/// pool works unregistered.  Slabs are 4096-aligned, so they also suit `O_DIRECT` and libaio.
///
/// All slabs come from one allocation made up front: no allocation per request.
public final class IOBufferPool: @unchecked Sendable {
    /// One slab, owned by whoever acquired it until handed back with `release(_:)`.
    ///
    /// Non-copyable, so a slab cannot be released twice or kept after release by accident.
    public struct Slab: ~Copyable, @unchecked Sendable {
        /// The slab's number within its pool.
        public let index: Int
        /// The slab's memory: `slabSize` bytes.
        public let buffer: UnsafeMutableRawBufferPointer
    }

    /// Bytes per slab.
    public let slabSize: Int
    /// Slabs in the pool.
    public let slabCount: Int
    /// Whether the slabs are registered with the engine's ring (fixed-buffer I/O).
    public let isRegistered: Bool

    private let base: UnsafeMutableRawPointer
    private let ring: URingBackend?

    private struct State {
        var free: [Int]
        var waiters = FIFO<UnsafeContinuation<Int, Never>>()
    }

    private let state: Mutex<State>

    /// Allocates `slabCount` slabs of `slabSize` bytes (a multiple of 4096) and, if `engine` is
    /// an io_uring engine, registers them with its ring.
    public init(slabSize: Int = 1 << 20, slabCount: Int, registeringWith engine: (any IOEngine)? = nil) throws(LustreError) {
        guard slabSize > 0, slabSize % 4096 == 0, slabCount > 0, slabCount <= 16384 else {
            throw LustreError.invalid("I/O buffer pool of \(slabCount) slabs of \(slabSize) bytes")
        }
        let (total, overflow) = slabSize.multipliedReportingOverflow(by: slabCount)
        guard !overflow else { throw LustreError.invalid("I/O buffer pool size overflows") }
        var memory: UnsafeMutableRawPointer?
        let rc = posix_memalign(&memory, 4096, total)
        guard rc == 0, let memory else { throw LustreError(errno: rc, "posix_memalign \(total) bytes") }
        self.slabSize = slabSize
        self.slabCount = slabCount
        self.base = memory
        self.state = Mutex(State(free: Array((0..<slabCount).reversed())))
        if let ring = (engine as? IOEngineHandle<URingBackend>)?.backend,
           ring.registerBuffers(base: memory, slabSize: slabSize, count: slabCount) == 0 {
            self.ring = ring
            self.isRegistered = true
        } else {
            self.ring = nil
            self.isRegistered = false
        }
    }

    deinit {
        // Unregister before freeing: otherwise a later allocation at the same address would be
        // mistaken for (stale, pinned) fixed buffers.
        ring?.unregisterBuffers(base: base)
        free(base)
    }

    /// Takes a free slab, waiting (FIFO) for one to be released if none is free.
    public func acquire() async -> Slab {
        let immediate = state.withLock { s -> Int? in
            s.waiters.isEmpty ? s.free.popLast() : nil
        }
        if let index = immediate { return slab(index) }
        let index = await withUnsafeContinuation { (continuation: UnsafeContinuation<Int, Never>) in
            let granted = state.withLock { s -> Int? in
                if s.waiters.isEmpty, let index = s.free.popLast() { return index }
                s.waiters.append(continuation)
                return nil
            }
            if let granted { continuation.resume(returning: granted) }
        }
        return slab(index)
    }

    /// Takes a free slab if there is one, without waiting.
    public func tryAcquire() -> Slab? {
        guard let index = state.withLock({ s in s.waiters.isEmpty ? s.free.popLast() : nil }) else { return nil }
        return slab(index)
    }

    /// Hands a slab back (to the longest waiter, if any).
    public func release(_ slab: consuming Slab) {
        let index = slab.index
        precondition(slab.buffer.baseAddress == base + index * slabSize, "slab released to the wrong pool")
        let waiter = state.withLock { s -> UnsafeContinuation<Int, Never>? in
            if let waiter = s.waiters.popFirst() { return waiter }
            s.free.append(index)
            return nil
        }
        waiter?.resume(returning: index)
    }

    /// Free slabs right now (for stats and tests).
    public var freeCount: Int { state.withLock { $0.free.count } }

    private func slab(_ index: Int) -> Slab {
        Slab(index: index, buffer: UnsafeMutableRawBufferPointer(start: base + index * slabSize, count: slabSize))
    }
}
