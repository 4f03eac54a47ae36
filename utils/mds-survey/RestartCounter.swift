import Synchronization

/// A counter bumped from LNet's observer callback and read by the storm's tasks.
final class RestartCounter: Sendable {
    private let count = Atomic<UInt64>(0)

    func increment() { count.add(1, ordering: .sequentiallyConsistent) }

    var value: UInt64 { count.load(ordering: .sequentiallyConsistent) }
}
