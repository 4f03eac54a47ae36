import LibCFS
import Synchronization

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Runs `count` copies of a blocking body on OS threads of their own, started together, and
/// suspends the caller (off the concurrency pool) until every one has returned.
enum BlockingThreads {
    static func run<T: Sendable>(count: Int, _ body: @escaping @Sendable (Int) -> T) async throws(LustreError) -> [T] {
        let results = Mutex<[T?]>(Array(repeating: nil, count: count))
        let work = Work { index in
            let value = body(index)
            results.withLock { $0[index] = value }
        }
        let failure: LustreError? = await withUnsafeContinuation { (continuation: UnsafeContinuation<LustreError?, Never>) in
            // A coordinating thread starts and joins the workers, so the caller never blocks.
            let coordinator = Coordinator(work: work, count: count) { continuation.resume(returning: $0) }
            let raw = Unmanaged.passRetained(coordinator).toOpaque()
            var attributes = pthread_attr_t()
            pthread_attr_init(&attributes)
            pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
            var thread = pthread_t()
            let rc = pthread_create(&thread, &attributes, { raw in
                let coordinator = Unmanaged<Coordinator>.fromOpaque(raw!).takeRetainedValue()
                coordinator.runAll()
                return nil
            }, raw)
            pthread_attr_destroy(&attributes)
            if rc != 0 {
                Unmanaged<Coordinator>.fromOpaque(raw).release()
                continuation.resume(returning: LustreError(errno: rc, "pthread_create"))
            }
        }
        if let failure { throw failure }
        return results.withLock { $0.map { $0! } }
    }

    private final class Work: Sendable {
        let body: @Sendable (Int) -> Void
        init(_ body: @escaping @Sendable (Int) -> Void) { self.body = body }
    }

    private final class Job: Sendable {
        let work: Work
        let index: Int
        init(work: Work, index: Int) {
            self.work = work
            self.index = index
        }
    }

    private final class Coordinator: Sendable {
        let work: Work
        let count: Int
        let done: @Sendable (LustreError?) -> Void

        init(work: Work, count: Int, done: @escaping @Sendable (LustreError?) -> Void) {
            self.work = work
            self.count = count
            self.done = done
        }

        func runAll() {
            var threads: [pthread_t] = []
            var failure: LustreError?
            for index in 0..<count {
                let raw = Unmanaged.passRetained(Job(work: work, index: index)).toOpaque()
                var thread = pthread_t()
                let rc = pthread_create(&thread, nil, { raw in
                    let job = Unmanaged<Job>.fromOpaque(raw!).takeRetainedValue()
                    job.work.body(job.index)
                    return nil
                }, raw)
                if rc != 0 {
                    Unmanaged<Job>.fromOpaque(raw).release()
                    failure = LustreError(errno: rc, "pthread_create for thread \(index)")
                    break
                }
                threads.append(thread)
            }
            for thread in threads { pthread_join(thread, nil) }
            done(failure)
        }
    }
}
