#if canImport(Glibc)
import Glibc
#endif

/// Runs a blocking call (`syncfs`, `fdatasync`, writing and fsyncing a small file) on an OS
/// thread of its own, named `name`, and suspends the caller until it returns.
///
/// Blocking a thread of the Swift concurrency pool (two of them on a 2-core box) would stall
/// every task in the process, NIO's callers included. A thread per call costs tens of
/// microseconds, negligible beside a disk flush, and leaves nothing running between calls, so
/// there is no worker to stop at shutdown.
public func runOnOSThread<T: Sendable>(named name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<T, Never>) in
        let job = OSThreadJob(name: name) { continuation.resume(returning: body()) }
        let raw = Unmanaged.passRetained(job).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let job = Unmanaged<OSThreadJob>.fromOpaque(raw!).takeRetainedValue()
            _ = pthread_setname_np(pthread_self(), String(job.name.utf8.prefix(15))!)
            job.body()
            return nil
        }, raw)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            // Out of threads: doing the call inline is slower for others but still correct.
            Unmanaged<OSThreadJob>.fromOpaque(raw).takeRetainedValue().body()
        }
    }
}

private final class OSThreadJob: Sendable {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, _ body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}
