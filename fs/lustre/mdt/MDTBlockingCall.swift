import Glibc
import LibCFS

/// Runs a blocking call (`fdatasync`, `syncfs`) on an OS thread of its own and suspends the
/// caller until it returns, so the Swift concurrency pool (two threads on a 2-core box) never
/// stalls on a disk flush. A thread per call costs tens of microseconds, nothing beside a flush.
func mdtBlocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<T, Never>) in
        let job = MDTBlockingJob { continuation.resume(returning: body()) }
        let raw = Unmanaged.passRetained(job).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let job = Unmanaged<MDTBlockingJob>.fromOpaque(raw!).takeRetainedValue()
            _ = pthread_setname_np(pthread_self(), "mdt-sync")
            job.body()
            return nil
        }, raw)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            Unmanaged<MDTBlockingJob>.fromOpaque(raw).takeRetainedValue().body()
        }
    }
}

private final class MDTBlockingJob: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
