import Glibc
import LibCFS

/// Runs a blocking syscall (`fdatasync`, `fsync` of a directory) on an OS thread of its own and
/// suspends the caller until it returns, so no thread of the Swift concurrency pool (two on a
/// 2-core box) is held in the kernel waiting for the disk.
func ospRunOnOSThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withUnsafeContinuation { (continuation: UnsafeContinuation<T, Never>) in
        let job = OSPThreadJob { continuation.resume(returning: body()) }
        let raw = Unmanaged.passRetained(job).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attributes, { raw in
            let job = Unmanaged<OSPThreadJob>.fromOpaque(raw!).takeRetainedValue()
            _ = pthread_setname_np(pthread_self(), "osp-sync")
            job.body()
            return nil
        }, raw)
        pthread_attr_destroy(&attributes)
        if rc != 0 {
            // Out of threads: doing the call inline is slower for others but still correct.
            Unmanaged<OSPThreadJob>.fromOpaque(raw).takeRetainedValue().body()
        }
    }
}

private final class OSPThreadJob: Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
