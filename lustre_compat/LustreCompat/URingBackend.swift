internal import CURing
import Glibc
import LibCFS
import Synchronization

/// The io_uring engine.
///
/// One ring shared by all callers.  Submitters prepare SQEs and call `io_uring_submit` under a
/// lock (a batch costs one syscall); one dedicated thread blocks in `io_uring_wait_cqe`, drains
/// every ready CQE with `peek_cqe`, and resumes the waiting tasks.  At most `depth` requests are
/// in the kernel at once (so the completion queue, twice that size, can never overflow); later
/// requests queue in FIFO order and the reaper submits them as slots free up, so callers wait but
/// nothing is ever dropped.  Memory from a registered `IOBufferPool` goes through
/// `read_fixed`/`write_fixed`, saving the kernel a page-pinning walk per request.
final class URingBackend: IOBackend, @unchecked Sendable {
    let kind = IOEngineKind.ioUring

    /// Heap-allocated: liburing and the kernel keep pointers into it (pitfall 8).
    private let ring: UnsafeMutablePointer<io_uring>
    private let depth: Int
    private let completionCapacity: Int
    /// user_data of the NOP that wakes the reaper at shutdown; slots are small integers.
    private static let wakeToken = UInt64.max

    private struct State {
        /// Who waits for the request in each slot; a slot index is the SQE's user_data.
        var slots: [IOCompletionTarget?]
        var freeSlots: [Int32]
        var pending = FIFO<(IORequest, IOCompletionTarget)>()
        var inflight = 0
        var closing = false
        var registered: RegisteredRegion?
        var fixedSubmissions = 0
    }

    private let state: Mutex<State>
    /// The reaper; taken (and joined) by the first `shutdown`, which holds this lock meanwhile
    /// so a concurrent `shutdown` returns only when everything is gone.
    private let reaper = Mutex<OSThread?>(nil)

    /// 0 if this process may create a ring, else the errno the kernel gave.
    static func probe() -> Int32 {
        let ring = UnsafeMutablePointer<io_uring>.allocate(capacity: 1)
        defer { ring.deallocate() }
        ring.initialize(to: io_uring())
        let rc = io_uring_queue_init(2, ring, 0)
        if rc < 0 { return -rc }
        io_uring_queue_exit(ring)
        return 0
    }

    init(queueDepth: Int) throws(LustreError) {
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        // SUBMIT_ALL: a bad SQE must not leave the ones behind it stranded in the queue.
        var rc = io_uring_queue_init(UInt32(queueDepth), ring, UInt32(IORING_SETUP_SUBMIT_ALL))
        if rc == -EINVAL { rc = io_uring_queue_init(UInt32(queueDepth), ring, 0) }
        guard rc == 0 else {
            ring.deallocate()
            throw LustreError(errno: -rc, "io_uring_queue_init depth \(queueDepth)")
        }
        depth = Swift.min(queueDepth, Int(ring.pointee.sq.ring_entries))
        completionCapacity = Int(ring.pointee.cq.ring_entries)
        state = Mutex(State(slots: Array(repeating: nil, count: depth),
                            freeSlots: (0..<Int32(depth)).reversed()))
        do {
            let thread = try OSThread(name: "io_uring-reap") { [self] in reap() }
            reaper.withLock { $0 = thread }
        } catch {
            io_uring_queue_exit(ring)
            ring.deallocate()
            throw error
        }
    }

    func start(_ request: IORequest, _ target: IOCompletionTarget) {
        let accepted = state.withLock { s -> Bool in
            if s.closing { return false }
            if s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                prepare(request, target, slot: slot, &s)
                submitPrepared()
            } else {
                s.pending.append((request, target))
            }
            return true
        }
        if !accepted { target.complete(-Int(ESHUTDOWN))?.resume() }
    }

    func start(_ requests: [IORequest], _ batch: IOBatch) {
        let refusal = state.withLock { s -> IOResumption? in
            if s.closing {
                var wake: IOResumption?
                for i in requests.indices {
                    if let w = IOCompletionTarget.batch(batch, i).complete(-Int(ESHUTDOWN)) { wake = w }
                }
                return wake
            }
            var prepared = 0
            for (i, request) in requests.enumerated() {
                if s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                    prepare(request, .batch(batch, i), slot: slot, &s)
                    prepared += 1
                } else {
                    s.pending.append((request, .batch(batch, i)))
                }
            }
            if prepared > 0 { submitPrepared() }
            return nil
        }
        refusal?.resume()
    }

    var threadIDs: [Int32] {
        reaper.withLock { thread in thread.map { [$0.kernelID.load(ordering: .acquiring)] } ?? [] }
    }

    func shutdown() {
        reaper.withLock { thread in
            guard let reaperThread = thread else { return }
            state.withLock { s in
                s.closing = true
                var sqe = io_uring_get_sqe(ring)
                while sqe == nil {
                    _ = io_uring_submit(ring)
                    sqe = io_uring_get_sqe(ring)
                }
                io_uring_prep_nop(sqe)
                io_uring_sqe_set_data64(sqe, Self.wakeToken)
                submitPrepared()
            }
            reaperThread.join()
            thread = nil
            io_uring_queue_exit(ring)
            ring.deallocate()
        }
    }

    // MARK: Registered buffers

    /// Registers `count` slabs of `slabSize` bytes starting at `base` as the ring's fixed
    /// buffers; 0 or an errno (ENOMEM/EPERM without CAP_IPC_LOCK, EBUSY if a region is
    /// already registered: a ring has one buffer table).
    func registerBuffers(base: UnsafeMutableRawPointer, slabSize: Int, count: Int) -> Int32 {
        state.withLock { s -> Int32 in
            if s.closing { return ESHUTDOWN }
            if s.registered != nil { return EBUSY }
            let vectors = UnsafeMutablePointer<iovec>.allocate(capacity: count)
            defer { vectors.deallocate() }
            for i in 0..<count {
                vectors[i] = iovec(iov_base: base + i * slabSize, iov_len: slabSize)
            }
            let rc = io_uring_register_buffers(ring, vectors, UInt32(count))
            if rc < 0 { return -rc }
            s.registered = RegisteredRegion(start: UInt(bitPattern: base), slabSize: slabSize, count: count)
            return 0
        }
    }

    /// Drops the registration made for `base`, before its memory is freed.
    func unregisterBuffers(base: UnsafeMutableRawPointer) {
        state.withLock { s in
            guard !s.closing, let region = s.registered, region.start == UInt(bitPattern: base) else { return }
            _ = io_uring_unregister_buffers(ring)
            s.registered = nil
        }
    }

    /// How many requests went through read_fixed/write_fixed (for tests and stats).
    var fixedSubmissionCount: Int { state.withLock { $0.fixedSubmissions } }

    // MARK: Internals

    /// Fills an SQE for `request` in `slot`.  Caller holds the lock; a free slot guarantees a
    /// free SQE, since the kernel consumes the SQ on every submit.
    private func prepare(_ request: IORequest, _ target: IOCompletionTarget, slot: Int32, _ s: inout State) {
        s.slots[Int(slot)] = target
        s.inflight += 1
        var next = io_uring_get_sqe(ring)
        while next == nil {
            _ = io_uring_submit(ring)
            next = io_uring_get_sqe(ring)
        }
        let sqe = next!
        let length = UInt32(truncatingIfNeeded: request.length)
        let offset = UInt64(bitPattern: request.offset)
        switch request.opcode {
        case .read:
            if let index = s.registered?.slabIndex(request.base, request.length) {
                io_uring_prep_read_fixed(sqe, request.fd, request.base, length, offset, index)
                s.fixedSubmissions += 1
            } else {
                io_uring_prep_read(sqe, request.fd, request.base, length, offset)
            }
        case .write:
            if let index = s.registered?.slabIndex(request.base, request.length) {
                io_uring_prep_write_fixed(sqe, request.fd, request.base, length, offset, index)
                s.fixedSubmissions += 1
            } else {
                io_uring_prep_write(sqe, request.fd, request.base, length, offset)
            }
        case .fsync:
            io_uring_prep_fsync(sqe, request.fd, 0)
        case .fdatasync:
            io_uring_prep_fsync(sqe, request.fd, UInt32(IORING_FSYNC_DATASYNC))
        }
        io_uring_sqe_set_data64(sqe, UInt64(slot))
    }

    /// Hands every prepared SQE to the kernel.  Caller holds the lock.
    private func submitPrepared() {
        while io_uring_sq_ready(ring) > 0 {
            let rc = io_uring_submit(ring)
            // EAGAIN/EBUSY: the kernel is short of request memory or has overflowed CQEs to
            // flush; the reaper consumes CQEs without this lock, so retrying makes progress.
            if rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY { break }
        }
    }

    /// The reaper thread's body.
    private func reap() {
        let completions = UnsafeMutablePointer<(UInt64, Int32)>.allocate(capacity: completionCapacity)
        defer { completions.deallocate() }
        var wakes = [IOResumption]()
        wakes.reserveCapacity(completionCapacity)
        var stopRequested = false
        while true {
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            let rc = io_uring_wait_cqe(ring, &cqe)
            if rc < 0 { continue }  // EINTR/EAGAIN: nothing consumed, wait again
            var count = 0
            while count < completionCapacity, io_uring_peek_cqe(ring, &cqe) == 0, let entry = cqe {
                completions[count] = (entry.pointee.user_data, entry.pointee.res)
                io_uring_cqe_seen(ring, entry)
                count += 1
            }
            let finished = state.withLock { s -> Bool in
                for i in 0..<count {
                    let (token, result) = completions[i]
                    if token == Self.wakeToken {
                        stopRequested = true
                        continue
                    }
                    let slot = Int(token)
                    let target = s.slots[slot].take()!
                    s.inflight -= 1
                    s.freeSlots.append(Int32(slot))
                    if let wake = target.complete(Int(result)) { wakes.append(wake) }
                }
                var prepared = 0
                while !s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                    let (request, target) = s.pending.popFirst()!
                    prepare(request, target, slot: slot, &s)
                    prepared += 1
                }
                if prepared > 0 { submitPrepared() }
                return stopRequested && s.inflight == 0 && s.pending.isEmpty
            }
            for wake in wakes { wake.resume() }
            wakes.removeAll(keepingCapacity: true)
            if finished { return }
        }
    }
}

/// The memory a ring has registered as fixed buffers: `count` slabs of `slabSize` bytes from
/// `start`.  Lookup is arithmetic, so checking every request costs nothing measurable.
struct RegisteredRegion {
    var start: UInt
    var slabSize: Int
    var count: Int

    /// The fixed-buffer index covering `[base, base+length)`, if one slab holds all of it.
    func slabIndex(_ base: UnsafeMutableRawPointer?, _ length: Int) -> Int32? {
        guard let base, length > 0 else { return nil }
        let address = UInt(bitPattern: base)
        guard address >= start else { return nil }
        let offset = Int(address - start)
        guard offset < slabSize * count else { return nil }
        let index = offset / slabSize
        guard offset + length <= (index + 1) * slabSize else { return nil }
        return Int32(index)
    }
}
