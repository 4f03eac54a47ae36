/// A growable ring buffer: O(1) append and removal at the front.
///
/// Queues of waiting I/O requests sit on hot paths; `Array.removeFirst` would be O(n) and a
/// dependency on swift-collections is not worth one small type.
struct FIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    init(minimumCapacity: Int = 0) {
        if minimumCapacity > 0 { storage = Array(repeating: nil, count: minimumCapacity) }
    }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        var tail = head + count
        if tail >= storage.count { tail -= storage.count }
        storage[tail] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head].take()
        head += 1
        if head == storage.count { head = 0 }
        count -= 1
        return element
    }

    private mutating func grow() {
        var bigger = [Element?](repeating: nil, count: Swift.max(16, storage.count * 2))
        for i in 0..<count {
            var index = head + i
            if index >= storage.count { index -= storage.count }
            bigger[i] = storage[index].take()
        }
        storage = bigger
        head = 0
    }
}

extension FIFO: Sendable where Element: Sendable {}
