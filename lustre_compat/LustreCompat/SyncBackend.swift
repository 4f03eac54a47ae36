import Glibc
import LibCFS
import Synchronization

/// The portable engine: `pread`/`pwrite`/`fsync`/`fdatasync` on a pool of OS threads.
///
/// Blocking syscalls must never run on the Swift concurrency pool (two cores here: two blocked
/// reads would stall every task in the process), so requests queue to threads of our own, which
/// sleep on a condition variable when idle.
final class SyncBackend: IOBackend, @unchecked Sendable {
    let kind = IOEngineKind.sync

    private let lock = ConditionLock()
    // Guarded by `lock`.
    private var queue = FIFO<(IORequest, IOCompletionTarget)>(minimumCapacity: 64)
    private var closing = false
    private var idle = 0

    private let threads = Mutex<[OSThread]>([])

    init(threads count: Int) throws(LustreError) {
        do {
            for i in 0..<count {
                let thread = try OSThread(name: "io-sync-\(i)") { [self] in work() }
                threads.withLock { $0.append(thread) }
            }
        } catch {
            shutdown()
            throw error
        }
    }

    func start(_ request: IORequest, _ target: IOCompletionTarget) {
        lock.lock()
        if closing {
            lock.unlock()
            target.complete(-Int(ESHUTDOWN))?.resume()
            return
        }
        queue.append((request, target))
        if idle > 0 { lock.signal() }
        lock.unlock()
    }

    func start(_ requests: [IORequest], _ batch: IOBatch) {
        lock.lock()
        if closing {
            var wake: IOResumption?
            for i in requests.indices {
                if let w = IOCompletionTarget.batch(batch, i).complete(-Int(ESHUTDOWN)) { wake = w }
            }
            lock.unlock()
            wake?.resume()
            return
        }
        for (i, request) in requests.enumerated() { queue.append((request, .batch(batch, i))) }
        if idle > 0 {
            if requests.count > 1 { lock.broadcast() } else { lock.signal() }
        }
        lock.unlock()
    }

    var threadIDs: [Int32] {
        threads.withLock { $0.map { $0.kernelID.load(ordering: .acquiring) } }
    }

    func shutdown() {
        threads.withLock { threads in
            lock.lock()
            closing = true
            lock.broadcast()
            lock.unlock()
            for thread in threads { thread.join() }
            threads.removeAll()
        }
    }

    /// A worker: runs queued requests until shutdown empties the queue.
    private func work() {
        lock.lock()
        while true {
            while queue.isEmpty && !closing {
                idle += 1
                lock.wait()
                idle -= 1
            }
            guard let (request, target) = queue.popFirst() else { break }
            lock.unlock()
            let result = Self.perform(request)
            if case .single(let continuation) = target {
                continuation.resume(returning: result)
                lock.lock()
            } else {
                lock.lock()
                if let wake = target.complete(result) {
                    lock.unlock()
                    wake.resume()
                    lock.lock()
                }
            }
        }
        lock.unlock()
    }

    /// The syscall for `request`: bytes transferred or `-errno`.
    private static func perform(_ request: IORequest) -> Int {
        while true {
            let rc: Int
            switch request.opcode {
            case .read: rc = pread(request.fd, request.base, request.length, off_t(request.offset))
            case .write: rc = pwrite(request.fd, request.base, request.length, off_t(request.offset))
            case .fsync: rc = Int(Glibc.fsync(request.fd))
            case .fdatasync: rc = Int(Glibc.fdatasync(request.fd))
            }
            if rc >= 0 { return rc }
            let error = errno
            if error != EINTR { return -Int(error) }
        }
    }
}
