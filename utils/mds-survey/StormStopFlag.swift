import Synchronization

/// Set once the storm should end (operation count, duration, or SIGTERM/SIGINT).
final class StormStopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    func set() { flag.store(true, ordering: .sequentiallyConsistent) }

    var isSet: Bool { flag.load(ordering: .sequentiallyConsistent) }
}
