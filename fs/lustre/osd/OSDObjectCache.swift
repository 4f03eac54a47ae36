import ObdClass
import Synchronization

/// Open handles of recently used objects, so hot objects cost no `open`/`close` per I/O.
///
/// Least-recently-used eviction over a small table (256 by default).  Eviction scans for the
/// oldest entry: at this size a linear scan costs less than the `open` it replaces, and it keeps
/// the structure a dictionary.  Evicted handles close when their last user lets go.
final class OSDObjectCache: Sendable {
    private struct Entry {
        var handle: OSDObjectHandle
        var lastUse: UInt64
    }

    private struct State {
        var entries: [OSTObjectID: Entry] = [:]
        var clock: UInt64 = 0
    }

    let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 256) {
        self.capacity = Swift.max(1, capacity)
    }

    /// The cached handle of `id`, marked as just used.
    func lookup(_ id: OSTObjectID) -> OSDObjectHandle? {
        state.withLock { s -> OSDObjectHandle? in
            guard s.entries[id] != nil else { return nil }
            s.clock += 1
            s.entries[id]!.lastUse = s.clock
            return s.entries[id]!.handle
        }
    }

    /// Caches `handle` for `id` and returns the handle callers should use: an entry inserted
    /// meanwhile by a concurrent miss wins, and `handle` is dropped (closing its descriptors).
    func insert(_ id: OSTObjectID, _ handle: OSDObjectHandle, replacing: Bool = false) -> OSDObjectHandle {
        var evicted: OSDObjectHandle?
        let chosen = state.withLock { s -> OSDObjectHandle in
            s.clock += 1
            if !replacing, let existing = s.entries[id] {
                s.entries[id]!.lastUse = s.clock
                return existing.handle
            }
            if s.entries[id] == nil, s.entries.count >= capacity,
               let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
                evicted = s.entries.removeValue(forKey: oldest)?.handle
            }
            s.entries[id] = Entry(handle: handle, lastUse: s.clock)
            return handle
        }
        // Dropped here, outside the lock: the last release closes descriptors (a syscall).
        withExtendedLifetime(evicted) {}
        return chosen
    }

    /// Forgets `id` (destroyed, or about to be recreated).
    func remove(_ id: OSTObjectID) {
        let removed = state.withLock { $0.entries.removeValue(forKey: id) }
        _ = removed
    }

    /// Forgets everything (at close).
    func removeAll() {
        let all = state.withLock { s -> [OSTObjectID: Entry] in
            let all = s.entries
            s.entries.removeAll()
            return all
        }
        _ = all
    }

    /// Handles cached right now (for tests).
    var count: Int { state.withLock { $0.entries.count } }
}
