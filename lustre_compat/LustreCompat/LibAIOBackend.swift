internal import CAIO
import Glibc
import LibCFS
import Synchronization

/// The Linux AIO (libaio) engine.
///
/// Meant for `O_DIRECT` descriptors with buffers, offsets and lengths aligned to the logical
/// block size (use `AlignedBuffer`/`IOBufferPool`): only those are truly asynchronous.  On a
/// buffered descriptor the kernel performs the I/O inside `io_submit`, so it still works but
/// the submitting thread blocks for the whole transfer.  Unaligned `O_DIRECT` I/O fails with
/// `EINVAL`, as it would with `pread`.
///
/// The shape mirrors the io_uring engine: iocbs live in a heap array indexed by slot, at most
/// `depth` are in the kernel, later requests queue FIFO and are submitted by the reaper thread
/// (blocked in `io_getevents`) as slots free up.  Shutdown wakes the reaper with an
/// `IOCB_CMD_POLL` on a pipe, or, on kernels without AIO poll, a 100 ms timeout.
final class LibAIOBackend: IOBackend, @unchecked Sendable {
    let kind = IOEngineKind.libaio

    private let context: io_context_t
    private let depth: Int
    /// `depth` request iocbs, then the wake-up poll iocb.  Heap: the kernel holds their
    /// addresses until completion (pitfall 8).
    private let iocbs: UnsafeMutablePointer<iocb>
    /// Scratch list for `io_submit`, used under the lock.
    private let submitList: UnsafeMutablePointer<UnsafeMutablePointer<iocb>?>
    private let events: UnsafeMutablePointer<io_event>
    /// A pipe whose read end the wake-up poll watches.
    private let wakeReadFD: Int32
    private let wakeWriteFD: Int32
    private let pollWake: Bool

    private struct State {
        var slots: [IOCompletionTarget?]
        var freeSlots: [Int32]
        var pending = FIFO<(IORequest, IOCompletionTarget)>()
        var inflight = 0
        var closing = false
    }

    private let state: Mutex<State>
    private let reaper = Mutex<OSThread?>(nil)

    /// 0 if this process may create an AIO context, else the errno.
    static func probe() -> Int32 {
        var context: io_context_t?
        let rc = io_setup(1, &context)
        if rc < 0 { return -rc }
        _ = io_destroy(context)
        return 0
    }

    init(queueDepth: Int) throws(LustreError) {
        var context: io_context_t?
        let rc = io_setup(Int32(queueDepth + 1), &context)
        guard rc == 0, let context else { throw LustreError(errno: -rc, "io_setup depth \(queueDepth)") }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe2(&pipeFDs, O_CLOEXEC | O_NONBLOCK) == 0 else {
            let error = LustreError.fromErrno("pipe2")
            _ = io_destroy(context)
            throw error
        }
        self.context = context
        self.depth = queueDepth
        self.wakeReadFD = pipeFDs[0]
        self.wakeWriteFD = pipeFDs[1]
        iocbs = .allocate(capacity: queueDepth + 1)
        iocbs.initialize(repeating: iocb(), count: queueDepth + 1)
        submitList = .allocate(capacity: queueDepth + 1)
        submitList.initialize(repeating: nil, count: queueDepth + 1)
        events = .allocate(capacity: queueDepth + 1)
        events.initialize(repeating: io_event(), count: queueDepth + 1)
        state = Mutex(State(slots: Array(repeating: nil, count: queueDepth),
                            freeSlots: (0..<Int32(queueDepth)).reversed()))

        let wake = iocbs + queueDepth
        io_prep_poll(wake, wakeReadFD, Int32(POLLIN))
        submitList[0] = wake
        pollWake = io_submit(context, 1, submitList) == 1

        do {
            let thread = try OSThread(name: "libaio-reap") { [self] in reap() }
            reaper.withLock { $0 = thread }
        } catch {
            release()
            throw error
        }
    }

    func start(_ request: IORequest, _ target: IOCompletionTarget) {
        var wakes = [IOResumption]()
        let accepted = state.withLock { s -> Bool in
            if s.closing { return false }
            if s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                prepare(request, target, slot: slot, &s)
                submitList[0] = iocbs + Int(slot)
                submit(count: 1, &s, &wakes)
            } else {
                s.pending.append((request, target))
            }
            return true
        }
        if !accepted { target.complete(-Int(ESHUTDOWN))?.resume() }
        for wake in wakes { wake.resume() }
    }

    func start(_ requests: [IORequest], _ batch: IOBatch) {
        var wakes = [IOResumption]()
        state.withLock { s in
            if s.closing {
                for i in requests.indices {
                    if let w = IOCompletionTarget.batch(batch, i).complete(-Int(ESHUTDOWN)) { wakes.append(w) }
                }
                return
            }
            var prepared = 0
            for (i, request) in requests.enumerated() {
                if s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                    prepare(request, .batch(batch, i), slot: slot, &s)
                    submitList[prepared] = iocbs + Int(slot)
                    prepared += 1
                } else {
                    s.pending.append((request, .batch(batch, i)))
                }
            }
            if prepared > 0 { submit(count: prepared, &s, &wakes) }
        }
        for wake in wakes { wake.resume() }
    }

    var threadIDs: [Int32] {
        reaper.withLock { thread in thread.map { [$0.kernelID.load(ordering: .acquiring)] } ?? [] }
    }

    func shutdown() {
        reaper.withLock { thread in
            guard let reaperThread = thread else { return }
            state.withLock { $0.closing = true }
            var byte: UInt8 = 1
            _ = Glibc.write(wakeWriteFD, &byte, 1)
            reaperThread.join()
            thread = nil
            release()
        }
    }

    private func release() {
        _ = io_destroy(context)
        close(wakeReadFD)
        close(wakeWriteFD)
        iocbs.deallocate()
        submitList.deallocate()
        events.deallocate()
    }

    /// Fills the iocb of `slot`; the caller puts it in the submit list.  Caller holds the lock.
    private func prepare(_ request: IORequest, _ target: IOCompletionTarget, slot: Int32, _ s: inout State) {
        s.slots[Int(slot)] = target
        s.inflight += 1
        let cb = iocbs + Int(slot)
        switch request.opcode {
        case .read: io_prep_pread(cb, request.fd, request.base, request.length, request.offset)
        case .write: io_prep_pwrite(cb, request.fd, request.base, request.length, request.offset)
        case .fsync: io_prep_fsync(cb, request.fd)
        case .fdatasync: io_prep_fdsync(cb, request.fd)
        }
    }

    /// Submits the first `count` entries of the submit list.  A request the kernel refuses at
    /// submission (a closed descriptor, say) is completed here with that error.
    private func submit(count: Int, _ s: inout State, _ wakes: inout [IOResumption]) {
        var done = 0
        while done < count {
            let rc = io_submit(context, count - done, submitList + done)
            if rc > 0 {
                done += Int(rc)
            } else if rc == -EINTR || rc == -EAGAIN {
                continue
            } else {
                // io_submit stops at the first bad iocb and reports its error.
                let slot = iocbs.distance(to: submitList[done]!)
                let target = s.slots[slot].take()!
                s.inflight -= 1
                s.freeSlots.append(Int32(slot))
                if let wake = target.complete(rc == 0 ? -Int(EIO) : Int(rc)) { wakes.append(wake) }
                done += 1
            }
        }
    }

    private func reap() {
        var wakes = [IOResumption]()
        wakes.reserveCapacity(depth)
        var tick = timespec(tv_sec: 0, tv_nsec: 100_000_000)
        while true {
            let n = pollWake ? io_getevents(context, 1, depth + 1, events, nil)
                             : io_getevents(context, 1, depth + 1, events, &tick)
            if n < 0 && n != -EINTR { continue }
            let finished = state.withLock { s -> Bool in
                for i in 0..<Swift.max(Int(n), 0) {
                    let slot = iocbs.distance(to: events[i].obj)
                    if slot == depth { continue }  // the wake-up poll
                    let target = s.slots[slot].take()!
                    s.inflight -= 1
                    s.freeSlots.append(Int32(slot))
                    if let wake = target.complete(Int(bitPattern: UInt(events[i].res))) { wakes.append(wake) }
                }
                var prepared = 0
                while !s.pending.isEmpty, let slot = s.freeSlots.popLast() {
                    let (request, target) = s.pending.popFirst()!
                    prepare(request, target, slot: slot, &s)
                    submitList[prepared] = iocbs + Int(slot)
                    prepared += 1
                }
                if prepared > 0 { submit(count: prepared, &s, &wakes) }
                return s.closing && s.inflight == 0 && s.pending.isEmpty
            }
            for wake in wakes { wake.resume() }
            wakes.removeAll(keepingCapacity: true)
            if finished { return }
        }
    }
}
