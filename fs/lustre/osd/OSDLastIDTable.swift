import Glibc
import LibCFS
import LustreCompat
import ObdClass
import Synchronization

/// `LAST_ID` per object sequence: the highest object id ever handed out, so none is reused.
///
/// Lives in `O/<seq>/LAST_ID` (8 bytes, little-endian).  At open the value is the larger of the
/// file and the largest object actually present in `O/<seq>/d*`: the file may lag (a crash
/// between creating objects and writing it), the directories may lag (objects destroyed since),
/// and an id is safe only above both.  Writes of one sequence's file are serialised through its
/// own group commit, so the file only ever grows.
final class OSDLastIDTable: Sendable {
    /// One sequence's counter and file.
    final class Entry: Sendable {
        let sequence: UInt64
        let fd: Int32
        private struct Counters {
            /// Highest id handed out (or seen).
            var last: UInt64
            /// Highest id known to be on disk in `LAST_ID`.
            var persisted: UInt64
        }
        private let counters: Mutex<Counters>
        let group = OSDGroupCommit()

        init(sequence: UInt64, fd: Int32, last: UInt64, persisted: UInt64) {
            self.sequence = sequence
            self.fd = fd
            self.counters = Mutex(Counters(last: last, persisted: persisted))
        }

        deinit { close(fd) }

        var last: UInt64 { counters.withLock { $0.last } }
        var isDirty: Bool { counters.withLock { $0.last > $0.persisted } }

        /// Takes `count` ids after the current last.
        func reserve(_ count: UInt64) throws(LustreError) -> ClosedRange<UInt64> {
            try counters.withLock { c throws(LustreError) -> ClosedRange<UInt64> in
                let (end, overflow) = c.last.addingReportingOverflow(count)
                guard !overflow else { throw LustreError(errno: EOVERFLOW, "sequence \(sequence): object ids exhausted") }
                let range = (c.last + 1)...end
                c.last = end
                return range
            }
        }

        /// Notes that `id` exists (an explicit create), so precreate never hands it out.
        func observe(_ id: UInt64) {
            counters.withLock { c in c.last = Swift.max(c.last, id) }
        }

        /// Writes the current last id to `LAST_ID` and `fdatasync`s it, shared with concurrent
        /// callers; returns once a value at least as high as the last id at call time is durable.
        func persist(engine: any IOEngine) async throws(LustreError) {
            let result = await group.run { [self] () async -> Result<UInt64, LustreError> in
                let value = counters.withLock { $0.last }
                do throws(LustreError) {
                    try await OSDFiles.writeCounter(value, to: fd, engine: engine)
                    try await engine.fdatasync(fd: fd)
                } catch {
                    return .failure(error.adding(context: "LAST_ID of sequence \(sequence)"))
                }
                counters.withLock { c in c.persisted = Swift.max(c.persisted, value) }
                return .success(value)
            }
            _ = try result.get()
        }
    }

    private let root: Int32
    private let engine: any IOEngine
    private let entries = Mutex<[UInt64: Entry]>([:])
    /// Loads of sequences seen for the first time, shared by concurrent callers.
    private let loading = Mutex<[UInt64: Task<Entry, any Error>]>([:])

    /// Loads every sequence present under `O/`.
    init(root: Int32, engine: any IOEngine) async throws(LustreError) {
        self.root = root
        self.engine = engine
        for name in try OSDFiles.list("O", in: root) {
            guard let sequence = UInt64(name) else { continue }
            let entry = try await Self.load(sequence, root: root, engine: engine)
            entries.withLock { $0[sequence] = entry }
        }
    }

    /// The entry of `sequence`, created (directory and file) on first use.
    ///
    /// First use is single-flight: concurrent callers wait for one load, so the directory scan
    /// runs once and everyone shares one counter.
    func entry(_ sequence: UInt64) async throws(LustreError) -> Entry {
        if let entry = entries.withLock({ $0[sequence] }) { return entry }
        let (root, engine) = (self.root, self.engine)
        let load = loading.withLock { pending -> Task<Entry, any Error> in
            if let task = pending[sequence] { return task }
            let task = Task<Entry, any Error> {
                try OSDFiles.makeDirectories("O/\(sequence)", in: root)
                return try await Self.load(sequence, root: root, engine: engine)
            }
            pending[sequence] = task
            return task
        }
        do {
            let loaded = try await load.value
            return entries.withLock { table in
                if let existing = table[sequence] { return existing }
                table[sequence] = loaded
                return loaded
            }
        } catch {
            // Let a later caller try again (the error may be passing, e.g. ENOSPC).
            loading.withLock { pending in pending[sequence] = nil }
            throw (error as? LustreError) ?? LustreError(errno: EIO, "LAST_ID of sequence \(sequence): \(error)")
        }
    }

    /// The entry of `sequence` if it is loaded.
    func existingEntry(_ sequence: UInt64) -> Entry? {
        entries.withLock { $0[sequence] }
    }

    /// Persists every sequence whose counter moved since it was last written.
    func persistDirty() async throws(LustreError) {
        for entry in entries.withLock({ Array($0.values) }) where entry.isDirty {
            try await entry.persist(engine: engine)
        }
    }

    /// Drops every entry (closing the `LAST_ID` files).
    func removeAll() {
        let all = entries.withLock { table -> [UInt64: Entry] in
            let all = table
            table.removeAll()
            return all
        }
        _ = all
        loading.withLock { $0.removeAll() }
    }

    private static func load(_ sequence: UInt64, root: Int32, engine: any IOEngine) async throws(LustreError) -> Entry {
        let fd = try OSDFiles.open("O/\(sequence)/LAST_ID", in: root, flags: O_RDWR | O_CREAT,
                                   what: "LAST_ID of sequence \(sequence)")
        do {
            let stored = try await OSDFiles.readCounter(fd, engine: engine) ?? 0
            var present: UInt64 = 0
            for bucket in 0..<32 {
                for name in try OSDFiles.list("O/\(sequence)/d\(bucket)", in: root) {
                    if let id = UInt64(name) { present = Swift.max(present, id) }
                }
            }
            if present > stored {
                CWARN("OSD: sequence \(sequence): LAST_ID \(stored) below object \(present) on disk; using \(present)")
            }
            return Entry(sequence: sequence, fd: fd, last: Swift.max(stored, present), persisted: stored)
        } catch {
            close(fd)
            throw error
        }
    }
}
