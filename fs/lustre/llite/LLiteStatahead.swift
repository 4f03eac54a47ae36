import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Statahead for names that count up (Lustre's statahead of regularized file names, LU-14139):
/// once lookups in one directory go `f000005`, `f000006`, `f000007`, the lookups of the next
/// `statahead_max` names are sent ahead, all at once, and the lookups that follow are answered
/// from what came back, found or missing, instead of waiting one MDS round trip each. Every
/// answer taken sends the next name's lookup, so the window slides with the caller.
///
/// There are no DLM locks to revoke these results, so each is used once and only within
/// `lifetime` of its sending (the mount's entry timeout: the staleness the kernel's own entry
/// cache already allows), only for the credentials it was sent with, and every namespace change
/// this client makes drops the results for the names it touches. The MDS still decides every
/// change: a create after a stale "missing" fails with `EEXIST` there.
final class LLiteStatahead: Sendable {
    typealias Fetch = @Sendable (LustreFID, String, MDTCredentials) async throws(LustreError) -> MDTAttributes

    enum Outcome: Sendable, Equatable {
        case found(MDTAttributes)
        case missing
    }

    private struct Key: Hashable {
        var parent: LustreFID
        var name: String
    }

    private struct Entry {
        var id: UInt64
        var credentials: MDTCredentials
        var sent: UInt64
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome?, Never>] = []
    }

    /// A directory's run of names that count up: `prefix` then `number`, zero-padded to `width`
    /// digits (0: not padded).
    private struct Stream {
        var prefix: String
        var width: Int
        var last: Int
        var steps: Int
        var sentThrough: Int
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var streams: [LustreFID: Stream] = [:]
        var nextID: UInt64 = 1
    }

    /// Lookups sent ahead at most (`llite.*.statahead_max`; 0: off).
    let maximum: Tunable<Int>
    /// How long a result may be used after its lookup was sent.
    let lifetime: Double
    /// Steps of one in a row before lookups are sent ahead.
    static let stepsToStart = 2
    /// Results kept at most, all directories together.
    static let entryLimit = 4096
    /// Directories whose names are followed at most; past it they are all forgotten.
    static let streamLimit = 1024

    private let state = Mutex(State())
    /// `statahead total`: lookups sent ahead; `fname_hit`: lookups answered from them;
    /// `fname_miss`: results dropped unused (expired, invalidated or unasked for).
    let sent = Atomic<Int>(0)
    let hits = Atomic<Int>(0)
    let wasted = Atomic<Int>(0)

    init(maximum: Tunable<Int>, lifetime: Double) {
        self.maximum = maximum
        self.lifetime = lifetime
    }

    private var lifetimeNanoseconds: UInt64 { UInt64(max(0, lifetime) * 1e9) }

    /// Looks `name` up in `parent`: from a result sent ahead when there is one, else through
    /// `fetch`; and sends the next names' lookups when the names count up.
    func lookup(parent: LustreFID, name: String, credentials: MDTCredentials,
                fetch: @escaping Fetch) async throws(LustreError) -> MDTAttributes {
        guard maximum.value > 0 else { return try await fetch(parent, name, credentials) }
        let key = Key(parent: parent, name: name)
        var outcome: Outcome?
        switch take(key, credentials) {
        case .ready(let ready): outcome = ready
        case .pending(let id): outcome = await wait(key, id)
        case .none: break
        }
        advance(parent: parent, name: name, credentials: credentials, fetch: fetch)
        switch outcome {
        case .found(let attributes):
            hits.add(1, ordering: .relaxed)
            return attributes
        case .missing:
            hits.add(1, ordering: .relaxed)
            throw LustreError(errno: ENOENT, "\(name) in \(parent)")
        case nil:
            return try await fetch(parent, name, credentials)
        }
    }

    /// Drops what was looked up ahead for `name` in `parent` (this client changes that name).
    func forget(parent: LustreFID, name: String) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome?, Never>] in
            guard let entry = state.entries.removeValue(forKey: Key(parent: parent, name: name)) else { return [] }
            if entry.waiters.isEmpty { wasted.add(1, ordering: .relaxed) }
            return entry.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Drops every result that found `fid` (this client changes its attributes).
    func forget(fid: LustreFID) {
        state.withLock { state in
            let stale = state.entries.filter { if case .found(let a) = $0.value.outcome { a.fid == fid } else { false } }
            for key in stale.keys { state.entries[key] = nil }
            wasted.add(stale.count, ordering: .relaxed)
        }
    }

    // MARK: Taking results

    private enum Taken {
        case ready(Outcome)
        case pending(UInt64)
        case none
    }

    private func take(_ key: Key, _ credentials: MDTCredentials) -> Taken {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> Taken in
            guard let entry = state.entries[key] else { return .none }
            guard entry.credentials == credentials, now &- entry.sent < lifetimeNanoseconds else {
                if entry.outcome != nil {
                    state.entries[key] = nil
                    wasted.add(1, ordering: .relaxed)
                }
                return .none
            }
            guard let outcome = entry.outcome else { return .pending(entry.id) }
            state.entries[key] = nil
            return .ready(outcome)
        }
    }

    /// Waits for the lookup sent ahead as `id`; nil if its result was dropped meanwhile.
    private func wait(_ key: Key, _ id: UInt64) async -> Outcome? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Outcome?, Never>) in
            let ready: Outcome?? = state.withLock { state in
                guard var entry = state.entries[key], entry.id == id else { return .some(nil) }
                if let outcome = entry.outcome {
                    state.entries[key] = nil
                    return .some(outcome)
                }
                entry.waiters.append(continuation)
                state.entries[key] = entry
                return .none
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Stores the result of the lookup sent ahead as `id` (nil: it failed otherwise than ENOENT,
    /// and whoever asks looks up again); a caller already waiting takes it at once.
    private func complete(_ key: Key, _ id: UInt64, _ outcome: Outcome?) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome?, Never>] in
            guard var entry = state.entries[key], entry.id == id else { return [] }
            let waiters = entry.waiters
            if outcome == nil || !waiters.isEmpty {
                state.entries[key] = nil
            } else {
                entry.outcome = outcome
                entry.waiters = []
                state.entries[key] = entry
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: outcome) }
    }

    // MARK: Sending ahead

    /// `name` split into its prefix, its trailing decimal number and the number's padded width.
    static func split(_ name: String) -> (prefix: String, number: Int, width: Int)? {
        let digits = name.utf8.reversed().prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }.count
        guard digits > 0, digits <= 9 else { return nil }
        let utf8 = Array(name.utf8)
        let numberBytes = utf8[(utf8.count - digits)...]
        guard let number = Int(String(decoding: numberBytes, as: UTF8.self)) else { return nil }
        let padded = digits > 1 && numberBytes.first == UInt8(ascii: "0")
        return (String(decoding: utf8[..<(utf8.count - digits)], as: UTF8.self), number, padded ? digits : 0)
    }

    static func name(prefix: String, number: Int, width: Int) -> String {
        let digits = String(number)
        return prefix + String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private func advance(parent: LustreFID, name: String, credentials: MDTCredentials, fetch: @escaping Fetch) {
        guard let (prefix, number, width) = Self.split(name) else {
            state.withLock { _ = $0.streams.removeValue(forKey: parent) }
            return
        }
        let window = maximum.value
        let now = MonotonicClock.nanoseconds()
        let toSend = state.withLock { state -> [(Key, UInt64)] in
            var stream: Stream
            if let known = state.streams[parent], known.prefix == prefix, known.width == width,
               number == known.last + 1 {
                stream = known
                stream.steps += 1
            } else {
                if state.streams.count >= Self.streamLimit && state.streams[parent] == nil {
                    state.streams.removeAll(keepingCapacity: true)
                }
                stream = Stream(prefix: prefix, width: width, last: number, steps: 0, sentThrough: number)
            }
            stream.last = number
            var toSend: [(Key, UInt64)] = []
            if stream.steps >= Self.stepsToStart {
                let first = max(stream.sentThrough, number) + 1
                let last = number + window
                if first <= last {
                    if state.entries.count + (last - first + 1) > Self.entryLimit { prune(&state, now) }
                    for next in first...last where state.entries.count < Self.entryLimit {
                        let key = Key(parent: parent, name: Self.name(prefix: prefix, number: next, width: width))
                        guard state.entries[key] == nil else { continue }
                        let id = state.nextID
                        state.nextID += 1
                        state.entries[key] = Entry(id: id, credentials: credentials, sent: now)
                        toSend.append((key, id))
                    }
                    stream.sentThrough = last
                }
            }
            state.streams[parent] = stream
            return toSend
        }
        guard !toSend.isEmpty else { return }
        sent.add(toSend.count, ordering: .relaxed)
        for (key, id) in toSend {
            Task {
                do throws(LustreError) {
                    complete(key, id, .found(try await fetch(key.parent, key.name, credentials)))
                } catch where error.errno == ENOENT {
                    complete(key, id, .missing)
                } catch {
                    complete(key, id, nil)
                }
            }
        }
    }

    /// Drops expired results (no one waits for a result that is done).
    private func prune(_ state: inout State, _ now: UInt64) {
        let before = state.entries.count
        let lifetime = lifetimeNanoseconds
        state.entries = state.entries.filter { $0.value.outcome == nil || now &- $0.value.sent < lifetime }
        wasted.add(before - state.entries.count, ordering: .relaxed)
    }

    /// `llite.*.statahead_stats`, in Lustre's words.
    func statsText() -> String {
        """
        statahead total: \(sent.load(ordering: .relaxed))
        statahead wrong: \(wasted.load(ordering: .relaxed))
        fname_total: \(sent.load(ordering: .relaxed))
        fname_hit: \(hits.load(ordering: .relaxed))
        fname_miss: \(wasted.load(ordering: .relaxed))

        """
    }
}
