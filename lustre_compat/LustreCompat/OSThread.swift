import Glibc
import LibCFS
import Synchronization

/// A joinable OS thread for work that blocks in syscalls.
///
/// Reapers and the sync engine's workers block in the kernel by design; doing that on the Swift
/// concurrency pool would starve every task on this 2-core box, so they get threads of their own,
/// and `join()` lets shutdown prove none is left behind.
final class OSThread: Sendable {
    private let thread = Mutex<pthread_t>(0)
    /// The kernel's id for the thread (its `/proc/self/task` entry); 0 until it has started.
    let kernelID = Atomic<Int32>(0)

    private final class Start: Sendable {
        let owner: OSThread
        let name: String
        let body: @Sendable () -> Void
        init(owner: OSThread, name: String, body: @escaping @Sendable () -> Void) {
            self.owner = owner
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (truncated to the kernel's 15 bytes).
    init(name: String, _ body: @escaping @Sendable () -> Void) throws(LustreError) {
        let start = Unmanaged.passRetained(Start(owner: self, name: name, body: body)).toOpaque()
        var id = pthread_t()
        let rc = pthread_create(&id, nil, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.owner.kernelID.store(gettid(), ordering: .releasing)
            _ = pthread_setname_np(pthread_self(), String(start.name.utf8.prefix(15))!)
            start.body()
            return nil
        }, start)
        guard rc == 0 else {
            Unmanaged<Start>.fromOpaque(start).release()
            throw LustreError(errno: rc, "pthread_create \(name)")
        }
        thread.withLock { $0 = id }
    }

    /// Waits for the thread to finish; call exactly once.
    func join() {
        _ = pthread_join(thread.withLock { $0 }, nil)
    }
}
