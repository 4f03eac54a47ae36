internal import CFuse3
internal import CURing
import Glibc
import LibCFS
import Synchronization

/// FUSE over io_uring (protocol 7.42, Linux 6.14; the `fuse` module's `enable_uring`): the kernel
/// hands each request to the queue of the CPU that made it, through a ring entry (a header buffer
/// and a payload buffer registered once), and the reply goes back with the command that fetches
/// the entry's next request. A thread per queue, pinned to its CPU, serves it: the caller and the
/// server meet on one CPU instead of waking a halted one (docs/performance.md: a `/dev/fuse` round
/// trip costs 32 µs on one CPU, 70-100 µs across two on this VM), and one `io_uring_enter`
/// replaces a `writev` and a `read`.
///
/// libfuse 3.14 has no such transport (3.18 does). Its request processing is reused as is: a
/// request is laid out as `/dev/fuse` delivers it (in header, opcode header, payload) in the
/// entry's own buffer, in front of the payload the kernel wrote (no copy of write data), and
/// handed to `fuse_session_process_buf`. Replies, which libfuse writes through the session's
/// custom I/O, are recognised by their `unique`, copied into the entry, and committed.
///
/// Commits are always submitted by the queue's own thread: the kernel delivers the entry's next
/// request through task work of the task that submitted the command, so a commit sent from an
/// RPC reply's thread would wake that thread for every later request of the entry, and would
/// lose the entry if that thread ended. A reply from another thread queues the commit and wakes
/// the queue thread through an eventfd polled on the ring.
///
/// Requests keep flowing through `/dev/fuse` until every queue has registered (INIT, FORGETs and
/// INTERRUPTs always do), and whenever io_uring is not granted.
final class FuseURing: @unchecked Sendable {
    /// `struct lustre_fuse_uring_req_header` and its parts.
    static let headerSize = MemoryLayout<lustre_fuse_uring_req_header>.size
    static let opInOffset = MemoryLayout<lustre_fuse_uring_req_header>.offset(of: \.op_in)!
    static let opInCapacity = MemoryLayout.size(ofValue: lustre_fuse_uring_req_header().op_in)
    /// `ring_ent_in_out.commit_id` and `.payload_sz` within the header.
    static let commitIDOffset = MemoryLayout<lustre_fuse_uring_req_header>.offset(of: \.ring_ent_in_out.commit_id)!
    static let payloadLengthOffset = MemoryLayout<lustre_fuse_uring_req_header>.offset(of: \.ring_ent_in_out.payload_sz)!
    static let inHeaderSize = 40
    static let outHeaderSize = 16
    /// Room in front of each payload for the in header and the opcode's header.
    static let prefix = 4096
    /// user_data of the eventfd poll; entries are small integers.
    static let wakeToken = UInt64.max

    /// Entries per queue: requests of one CPU in flight at once (more wait in the kernel).
    let depth: Int
    /// Queues: one per possible CPU, as the kernel makes them.
    let queueCount: Int

    /// Set once by `start` before `isActive` turns true (release), read after it (acquire).
    private var queues: [Queue] = []
    private let started = Atomic<Bool>(false)
    private let active = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// Requests that came through the rings.
    let delivered = Atomic<Int>(0)

    init(depth: Int = 16, queueCount: Int = FuseURing.possibleCPUs()) {
        self.depth = max(1, depth)
        self.queueCount = max(1, queueCount)
    }

    /// The kernel makes a queue per possible CPU (`num_possible_cpus`) and serves none until
    /// every one has registered: the highest CPU of `/sys/devices/system/cpu/possible` ("0-3,8")
    /// plus one, which may exceed the CPUs present (`get_nprocs_conf`).
    static func possibleCPUs() -> Int {
        guard let bytes = try? DurableFile.readIfPresent("/sys/devices/system/cpu/possible", limit: 4096),
              let highest = String(decoding: bytes, as: UTF8.self)
                  .split(whereSeparator: { !$0.isNumber }).compactMap({ Int($0) }).max()
        else { return Int(get_nprocs_conf()) }
        return highest + 1
    }

    /// Whether replies may belong to ring entries (some queue is serving).
    var isActive: Bool { active.load(ordering: .acquiring) }

    /// Sets up a ring, its entries and its thread per queue, and registers the entries with the
    /// kernel; called once INIT's reply granting io_uring has been written. `payloadSize` is the
    /// kernel's largest request or reply body (max of max_write and max_pages pages).
    func start(session: OpaquePointer, fd: Int32, payloadSize: Int) {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        var made: [Queue] = []
        for qid in 0..<queueCount {
            do throws(LustreError) {
                made.append(try Queue(qid: qid, depth: depth, fd: fd, payloadSize: payloadSize, session: session))
            } catch {
                CERROR("FUSE over io_uring: queue \(qid): \(error); requests stay on /dev/fuse")
                for queue in made { queue.stop() }
                return
            }
        }
        queues = made
        active.store(true, ordering: .releasing)
        for queue in made { queue.run(owner: self) }
    }

    /// Stops every queue thread and releases the rings (after the session's loop has ended;
    /// once).
    func stop() {
        active.store(false, ordering: .releasing)
        guard started.load(ordering: .acquiring),
              !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        for queue in queues { queue.stop() }
    }

    /// Called by a queue whose entries all ended: with none left, replies go to `/dev/fuse`.
    fileprivate func queueEnded() {
        if queues.allSatisfy({ $0.ended }) { active.store(false, ordering: .releasing) }
    }

    /// Takes a reply libfuse is writing (`iov[0]` the out header): if its request came through
    /// a ring entry, copies it there and has the entry committed. Returns the bytes taken, or
    /// nil when the reply is not for a ring entry (it goes to `/dev/fuse`).
    func reply(_ iov: UnsafePointer<iovec>, count: Int) -> Int? {
        guard count >= 1, let header = iov[0].iov_base, iov[0].iov_len >= Self.outHeaderSize else { return nil }
        let unique = header.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
        guard unique != 0 else { return nil }
        for queue in queues {
            if let index = queue.claim(unique: unique) {
                return queue.fill(index, iov: iov, count: count)
            }
        }
        return nil
    }

    // MARK: one queue

    fileprivate final class Queue: @unchecked Sendable {
        let qid: Int
        let depth: Int
        let fd: Int32
        let payloadSize: Int
        let session: OpaquePointer
        /// Heap-allocated: liburing and the kernel keep pointers into it.
        let ring: UnsafeMutablePointer<io_uring>
        let eventFD: Int32
        /// `IORING_ENTER_NO_IOWAIT` when the kernel has it (6.15), else 0. A queue thread waits
        /// for requests all the time; counted as iowait, an idle mount would show its CPUs 100 %
        /// in iowait and add one to the load average per queue.
        let waitFlags: UInt32
        /// Per entry: the header buffer, the payload buffer (after `prefix` bytes of room), and
        /// the two iovecs registered (the kernel reads them at REGISTER).
        let headers: UnsafeMutableRawPointer
        let buffers: UnsafeMutableRawPointer
        let iovecs: UnsafeMutablePointer<iovec>
        /// The commit id of each entry's request; the queue thread's alone.
        var commitIDs: [UInt64]
        /// Entries whose last command still waits for a request, or is being served.
        var liveEntries = 0
        /// Whether a REGISTER was refused (logged once).
        var registerRefused = false
        /// Set by the queue thread as it ends.
        let endedFlag = Atomic<Bool>(false)
        var ended: Bool { endedFlag.load(ordering: .acquiring) }
        private var thread: OSThread?

        struct State {
            /// The request each entry is serving (its unique), 0 when none.
            var uniques: [UInt64]
            /// Entries with a reply in place, to commit.
            var toCommit: [Int] = []
            /// The queue thread is (about to be) waiting in the kernel: a reply must wake it.
            var sleeping = false
            var stopping = false
        }
        let state: Mutex<State>

        init(qid: Int, depth: Int, fd: Int32, payloadSize: Int, session: OpaquePointer) throws(LustreError) {
            self.qid = qid
            self.depth = depth
            self.fd = fd
            self.payloadSize = payloadSize
            self.session = session
            ring = .allocate(capacity: 1)
            ring.initialize(to: io_uring())
            var params = io_uring_params()
            params.flags = UInt32(IORING_SETUP_SQE128) | UInt32(IORING_SETUP_CQSIZE)
            params.cq_entries = UInt32(2 * (depth + 1))
            let rc = io_uring_queue_init_params(UInt32(depth + 1), ring, &params)
            guard rc == 0 else {
                ring.deallocate()
                throw LustreError(errno: -rc, "io_uring_queue_init_params (SQE128) depth \(depth + 1)")
            }
            waitFlags = UInt32(IORING_ENTER_GETEVENTS)
                | (params.features & LUSTRE_IORING_FEAT_NO_IOWAIT != 0 ? LUSTRE_IORING_ENTER_NO_IOWAIT : 0)
            eventFD = eventfd(0, Int32(EFD_CLOEXEC))
            guard eventFD >= 0 else {
                let error = LustreError.fromErrno("eventfd")
                io_uring_queue_exit(ring)
                ring.deallocate()
                throw error
            }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let headerStride = (Self.roundUp(FuseURing.headerSize, page))
            headers = UnsafeMutableRawPointer.allocate(byteCount: headerStride * depth, alignment: page)
            headers.initializeMemory(as: UInt8.self, repeating: 0, count: headerStride * depth)
            buffers = UnsafeMutableRawPointer.allocate(byteCount: (FuseURing.prefix + payloadSize) * depth, alignment: page)
            iovecs = .allocate(capacity: 2 * depth)
            for index in 0..<depth {
                iovecs[2 * index] = iovec(iov_base: headers + index * headerStride, iov_len: FuseURing.headerSize)
                iovecs[2 * index + 1] = iovec(iov_base: buffers + index * (FuseURing.prefix + payloadSize) + FuseURing.prefix,
                                              iov_len: payloadSize)
            }
            commitIDs = Array(repeating: 0, count: depth)
            state = Mutex(State(uniques: Array(repeating: 0, count: depth)))
        }

        static func roundUp(_ value: Int, _ unit: Int) -> Int { (value + unit - 1) / unit * unit }

        func header(_ index: Int) -> UnsafeMutableRawPointer { iovecs[2 * index].iov_base! }
        func payload(_ index: Int) -> UnsafeMutableRawPointer { iovecs[2 * index + 1].iov_base! }

        func run(owner: FuseURing) {
            do throws(LustreError) {
                thread = try OSThread(name: "fuse-ring-\(qid)") { [self] in
                    serve(owner)
                    owner.queueEnded()
                }
            } catch {
                CERROR("FUSE over io_uring: queue \(qid): \(error)")
                endedFlag.store(true, ordering: .releasing)
                owner.queueEnded()
            }
        }

        /// Marks the entry serving `unique` as replied to, and returns it.
        func claim(unique: UInt64) -> Int? {
            state.withLock { state in
                guard let index = state.uniques.firstIndex(of: unique) else { return nil }
                state.uniques[index] = 0
                return index
            }
        }

        /// Copies a reply into entry `index` and queues its commit. Returns the bytes taken.
        func fill(_ index: Int, iov: UnsafePointer<iovec>, count: Int) -> Int {
            let header = header(index)
            let payload = payload(index)
            header.copyMemory(from: iov[0].iov_base!, byteCount: FuseURing.outHeaderSize)
            var length = 0
            for i in 1..<max(1, count) where iov[i].iov_len > 0 {
                guard length + iov[i].iov_len <= payloadSize, let base = iov[i].iov_base else {
                    // Cannot happen: the kernel sizes replies to its max_write/max_pages.
                    CERROR("FUSE over io_uring: a reply of over \(payloadSize) bytes; answered EIO")
                    header.storeBytes(of: -EIO, toByteOffset: 4, as: Int32.self)
                    length = 0
                    break
                }
                (payload + length).copyMemory(from: base, byteCount: iov[i].iov_len)
                length += iov[i].iov_len
            }
            header.storeBytes(of: UInt32(FuseURing.outHeaderSize + length), toByteOffset: 0, as: UInt32.self)
            header.storeBytes(of: UInt32(length), toByteOffset: FuseURing.payloadLengthOffset, as: UInt32.self)
            let wake = state.withLock { state -> Bool in
                state.toCommit.append(index)
                defer { state.sleeping = false }
                return state.sleeping
            }
            if wake { _ = eventfd_write(eventFD, 1) }
            return FuseURing.outHeaderSize + length
        }

        func stop() {
            let wake = state.withLock { state -> Bool in
                state.stopping = true
                return thread != nil
            }
            if wake { _ = eventfd_write(eventFD, 1) }
            thread?.join()
            thread = nil
            io_uring_queue_exit(ring)
            ring.deallocate()
            close(eventFD)
            // The thread is gone, and with it the task work that copies requests into the
            // buffers (the kernel runs it with IO_URING_F_TASK_DEAD: no copy).
            headers.deallocate()
            buffers.deallocate()
            iovecs.deallocate()
        }

        // MARK: the queue thread

        private func serve(_ owner: FuseURing) {
            pinToCPU()
            for index in 0..<depth { submitRegister(index) }
            armWake()
            liveEntries = depth
            while true {
                let (commits, stopping) = state.withLock { state in
                    defer { state.toCommit = []; state.sleeping = true }
                    return (state.toCommit, state.stopping)
                }
                if stopping { break }
                for index in commits { submitCommit(index) }
                var rc = io_uring_sq_ready(ring) > 0 ? io_uring_submit(ring) : 0
                if rc >= 0 {
                    // Waits (unless a completion is there already); liburing 2.3's own wait
                    // cannot pass IORING_ENTER_NO_IOWAIT.
                    rc = io_uring_enter(UInt32(ring.pointee.ring_fd), 0, 1, waitFlags, nil)
                    if rc == -1 { rc = -errno }  // a libc-style wrapper
                }
                state.withLock { $0.sleeping = false }
                if rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY {
                    CERROR("FUSE over io_uring: queue \(qid): io_uring_enter: errno \(-rc)")
                    break
                }
                owner.delivered.add(drainCompletions(), ordering: .relaxed)
                if liveEntries == 0 { break }
            }
            endedFlag.store(true, ordering: .releasing)
        }

        /// Serves what the kernel completed; returns the requests delivered.
        private func drainCompletions() -> Int {
            var requests = 0
            var cqe: UnsafeMutablePointer<io_uring_cqe>?
            while io_uring_peek_cqe(ring, &cqe) == 0, let completion = cqe {
                let token = completion.pointee.user_data
                let result = completion.pointee.res
                let more = completion.pointee.flags & UInt32(IORING_CQE_F_MORE) != 0
                io_uring_cqe_seen(ring, completion)
                if token == FuseURing.wakeToken {
                    if !more { armWake() }
                    continue
                }
                let index = Int(token)
                switch result {
                case 0:
                    deliver(index)
                    requests += 1
                case -EINTR, -EAGAIN:
                    if commitIDs[index] == 0 { submitRegister(index) } else { submitCommit(index) }
                case -ENOTCONN, -ECONNABORTED, -ECANCELED, -ENODEV:
                    liveEntries -= 1   // the connection is gone (unmount)
                case _ where commitIDs[index] != 0:
                    // A commit the kernel refused (its request gone: ENOENT) leaves the entry
                    // with it; register the buffers again, or the queue would run dry and
                    // requests of this CPU wait forever.
                    CERROR("FUSE over io_uring: queue \(qid) entry \(index): commit refused: errno \(-result); registering it again")
                    submitRegister(index)
                default:
                    // The kernel refuses the same way for every entry: said once per queue.
                    if !registerRefused {
                        registerRefused = true
                        CERROR("FUSE over io_uring: queue \(qid): the kernel refused its entries: errno \(-result); "
                               + "requests stay on /dev/fuse (the rings are used only once every queue has registered)")
                    }
                    liveEntries -= 1
                }
            }
            return requests
        }

        /// Hands the request the kernel put in entry `index` to libfuse, laid out as
        /// `/dev/fuse` gives it: in header, opcode header, payload, contiguous.
        private func deliver(_ index: Int) {
            let header = header(index)
            let payload = payload(index)
            let length = Int(header.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
            let unique = header.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            commitIDs[index] = header.loadUnaligned(fromByteOffset: FuseURing.commitIDOffset, as: UInt64.self)
            let payloadLength = Int(header.loadUnaligned(fromByteOffset: FuseURing.payloadLengthOffset, as: UInt32.self))
            let opLength = length - FuseURing.inHeaderSize - payloadLength
            guard (0...FuseURing.opInCapacity).contains(opLength), payloadLength <= payloadSize, unique != 0 else {
                CERROR("FUSE over io_uring: queue \(qid): a request of \(length) bytes with a \(payloadLength)-byte payload; answered EIO")
                header.storeBytes(of: UInt32(FuseURing.outHeaderSize), toByteOffset: 0, as: UInt32.self)
                header.storeBytes(of: -EIO, toByteOffset: 4, as: Int32.self)
                header.storeBytes(of: unique, toByteOffset: 8, as: UInt64.self)
                header.storeBytes(of: UInt32(0), toByteOffset: FuseURing.payloadLengthOffset, as: UInt32.self)
                submitCommit(index)
                return
            }
            let start = payload - FuseURing.inHeaderSize - opLength
            start.copyMemory(from: header, byteCount: FuseURing.inHeaderSize)
            (start + FuseURing.inHeaderSize).copyMemory(from: header + FuseURing.opInOffset, byteCount: opLength)
            state.withLock { $0.uniques[index] = unique }
            var buffer = fuse_buf()
            buffer.mem = start
            buffer.size = length
            fuse_session_process_buf(session, &buffer)
        }

        private func submitRegister(_ index: Int) {
            commitIDs[index] = 0
            submit(command: LUSTRE_FUSE_IO_URING_CMD_REGISTER, index: index, commitID: 0, iov: iovecs + 2 * index)
        }

        private func submitCommit(_ index: Int) {
            submit(command: LUSTRE_FUSE_IO_URING_CMD_COMMIT_AND_FETCH, index: index, commitID: commitIDs[index], iov: nil)
        }

        private func submit(command: UInt32, index: Int, commitID: UInt64, iov: UnsafeMutablePointer<iovec>?) {
            guard let sqe = io_uring_get_sqe(ring) else {
                // depth + 1 SQEs for depth entries and the wake poll: only after a bug.
                CERROR("FUSE over io_uring: queue \(qid): no SQE for entry \(index)")
                return
            }
            var request = lustre_fuse_uring_cmd_req()
            request.commit_id = commitID
            request.qid = UInt16(qid)
            lustre_io_uring_prep_cmd(sqe, fd, command, &request, MemoryLayout<lustre_fuse_uring_cmd_req>.size,
                                     iov, iov == nil ? 0 : 2, UInt64(index))
        }

        private func armWake() {
            guard let sqe = io_uring_get_sqe(ring) else { return }
            io_uring_prep_poll_multishot(sqe, eventFD, UInt32(POLLIN))
            sqe.pointee.user_data = FuseURing.wakeToken
        }

        /// The kernel picks a request's queue by the CPU its caller runs on: serve it there.
        private func pinToCPU() {
            var set = cpu_set_t()
            let bitsPerWord = MemoryLayout<UInt>.size * 8
            guard qid < MemoryLayout<cpu_set_t>.size * 8 else { return }
            withUnsafeMutableBytes(of: &set) { bytes in
                let words = bytes.bindMemory(to: UInt.self)
                words[qid / bitsPerWord] |= 1 << UInt(qid % bitsPerWord)
            }
            if sched_setaffinity(0, MemoryLayout<cpu_set_t>.size, &set) != 0 {
                CDEBUG(.vfstrace, "FUSE over io_uring: queue \(qid) not pinned: errno \(errno)")
            }
        }
    }
}
