/// One request as the backends see it: what to do, on which descriptor, with which memory.
///
/// A plain value, so queuing it costs no allocation.  `length` is already clamped to what one
/// read/write syscall transfers (Linux's MAX_RW_COUNT), which also keeps it within the 32-bit
/// length field of an io_uring SQE.
struct IORequest: @unchecked Sendable {
    enum Opcode: UInt8 { case read, write, fsync, fdatasync }

    /// Linux transfers at most this much per read/write call (MAX_RW_COUNT).
    static let maxTransfer = 0x7fff_f000

    var opcode: Opcode
    var fd: Int32
    var base: UnsafeMutableRawPointer?
    var length: Int
    var offset: Int64

    init(_ opcode: Opcode, fd: Int32, base: UnsafeMutableRawPointer? = nil, length: Int = 0, offset: Int64 = 0) {
        self.opcode = opcode
        self.fd = fd
        self.base = base
        self.length = Swift.min(length, IORequest.maxTransfer)
        self.offset = offset
    }
}

/// The results of one batch call, filled in as its requests complete.
///
/// One allocation per batch (not per request).  `remaining` and `results` are only touched
/// under the owning backend's lock; the caller reads `results` after being resumed, which the
/// resume orders after the last write.
final class IOBatch: @unchecked Sendable {
    let results: UnsafeMutablePointer<Int>
    let count: Int
    var remaining: Int
    var continuation: UnsafeContinuation<Void, Never>?

    init(count: Int) {
        self.count = count
        self.remaining = count
        self.results = .allocate(capacity: count)
        results.initialize(repeating: 0, count: count)
    }

    deinit { results.deallocate() }
}

/// Who is waiting for a request: a single caller, or one slot of a batch.
enum IOCompletionTarget: @unchecked Sendable {
    case single(UnsafeContinuation<Int, Never>)
    case batch(IOBatch, Int)

    /// Records `result` (bytes, or `-errno`) and says who to wake, if anyone.
    ///
    /// Call under the backend's lock; resume the returned value after dropping it, so woken
    /// tasks never contend with the thread that woke them.
    func complete(_ result: Int) -> IOResumption? {
        switch self {
        case .single(let continuation):
            return .single(continuation, result)
        case .batch(let batch, let index):
            batch.results[index] = result
            batch.remaining -= 1
            if batch.remaining == 0, let continuation = batch.continuation {
                batch.continuation = nil
                return .batch(continuation)
            }
            return nil
        }
    }
}

/// A wake-up decided under a lock and delivered after it.
enum IOResumption: Sendable {
    case single(UnsafeContinuation<Int, Never>, Int)
    case batch(UnsafeContinuation<Void, Never>)

    func resume() {
        switch self {
        case .single(let continuation, let result): continuation.resume(returning: result)
        case .batch(let continuation): continuation.resume()
        }
    }
}
