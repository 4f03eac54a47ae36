import Dispatch

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Suspends until SIGTERM or SIGINT, which then stop the OSS gracefully instead of killing it.
func waitForTermination() async {
    signal(SIGTERM, SIG_IGN)
    signal(SIGINT, SIG_IGN)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let queue = DispatchQueue(label: "signals")
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

/// True the first time only; used from one serial queue.
final class OnceFlag: @unchecked Sendable {
    private var done = false

    func set() -> Bool {
        defer { done = true }
        return !done
    }
}
