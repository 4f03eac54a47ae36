import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// How daemons and long-running tools stop gracefully.
public enum TerminationSignal {
    /// Suspends until SIGTERM or SIGINT arrives. Both are taken from their
    /// default (killing) action first, so the caller gets to clean up: close its
    /// services, commit, unmount.
    public static func wait() async {
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let queue = DispatchQueue(label: "lustre.signals")
            let once = OnceFlag()
            let sources = [SIGTERM, SIGINT].map { DispatchSource.makeSignalSource(signal: $0, queue: queue) }
            for source in sources {
                source.setEventHandler {
                    if once.set() {
                        for source in sources { source.cancel() }
                        continuation.resume()
                    }
                }
                source.resume()
            }
        }
    }
}

/// True the first time only; used from one serial queue, hence unchecked.
private final class OnceFlag: @unchecked Sendable {
    private var done = false

    func set() -> Bool {
        defer { done = true }
        return !done
    }
}
