import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Statahead (Lustre's `ll_statahead`): lookups sent ahead of a caller that walks a directory.
///
/// - Names that count up (Lustre's statahead of regularized file names, LU-14139): once lookups
///   in one directory go `f000005`, `f000006`, `f000007`, the next `statahead_max` names are
///   looked up at once.
/// - A directory this client has listed (`readdir`): once lookups follow its entries in listing
///   order, or in byte order as `ls` sorts them in the C locale, the next `statahead_max`
///   entries in that order are looked up at once.
///
/// The lookups that follow are answered from what came back, found or missing, instead of
/// waiting one MDS round trip each. Every answer taken sends the next name's lookup, so the
/// window slides with the caller.
///
/// There are no DLM locks to revoke these results, so each is used once and only within
/// `lifetime` of its sending (the mount's entry timeout: the staleness the kernel's own entry
/// cache already allows), only for the credentials it was sent with, and every namespace change
/// this client makes drops the results for the names it touches. The MDS still decides every
/// change: a create after a stale "missing" fails with `EEXIST` there.
final class LLiteStatahead: Sendable {
    typealias Fetch = @Sendable (LustreFID, String, MDTCredentials) async throws(LustreError) -> MDTAttributes
    /// Looks several names of one directory up in one request (`MDS_BATCH`): a result per name,
    /// in order; throws when the request as a whole fails.
    typealias FetchBatch = @Sendable (LustreFID, [String], MDTCredentials) async throws(LustreError)
        -> [Result<MDTAttributes, LustreError>]

    enum Outcome: Sendable, Equatable {
        case found(MDTAttributes)
        case missing
    }

    private struct Key: Hashable {
        var parent: LustreFID
        var name: String
    }

    /// What sent a lookup ahead: a run of counting names, or a directory's listing.
    enum Kind: Int, Sendable { case fname = 0, list = 1 }

    private struct Entry {
        var id: UInt64
        var kind: Kind
        var credentials: MDTCredentials
        var sent: UInt64
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Outcome?, Never>] = []
    }

    /// Where one walk through an order of names is: where it began, its front (the furthest
    /// position looked up), how many steps forward led there, and the last position already
    /// sent ahead.
    ///
    /// Several walkers often share a directory (the ranks of a job, `xargs -P`, a parallel
    /// `find`): their lookups arrive interleaved, the front moving by a few names at a time and
    /// the others behind it. A run follows them all: a step of up to `gapLimit` names (or onto a
    /// name already sent ahead) moves the front, and a lookup behind the front that a name sent
    /// ahead answered is a walker behind it and changes nothing. A lookup behind the front that
    /// nothing answered is not this run's (a walk that starts over, another walker elsewhere).
    struct Run: Equatable {
        var first: Int
        var last: Int
        var steps = 0
        var sentThrough: Int

        /// The furthest a step may skip and still count as the run's: walkers sharing a
        /// directory, or one taking every n-th name.
        static let gapLimit = 16

        init(at position: Int) {
            first = position
            last = position
            sentThrough = position
        }

        /// Whether a lookup at `position` belongs to this run: a step forward, or a walker
        /// behind the front whose lookup was `answered` from a name sent ahead.
        func continues(_ position: Int, answered: Bool) -> Bool {
            if position > last { return position - last <= Self.gapLimit || position <= sentThrough }
            return answered && position >= first
        }

        /// Follows a lookup at `position` that `continues` the run.
        mutating func follow(_ position: Int) {
            guard position > last else { return }
            steps += 1
            last = position
        }

        /// The positions to send ahead once the run has started: up to `window` past `last`,
        /// and below `end`; each is returned once. With `batch` above 1, positions wait until
        /// `batch` of them (or all those left before `end`) can go together, so they travel in
        /// one request.
        mutating func ahead(window: Int, batch: Int = 1, end: Int = .max) -> ClosedRange<Int>? {
            guard steps >= LLiteStatahead.stepsToStart else { return nil }
            let first = max(sentThrough, last) + 1
            let through = min(last + window, end - 1)
            guard first <= through, through - first + 1 >= min(batch, window) || through == end - 1 else { return nil }
            sentThrough = through
            return first...through
        }
    }

    /// The walks through one order of names, up to `limit` of them: walkers that started at
    /// different names (or a walk that starts over) each keep their own run.
    struct Runs: Equatable {
        /// Most recently followed last.
        private(set) var runs: [Run] = []
        static let limit = 4

        /// Follows a lookup at `position` with the run it continues, or with a new run (in
        /// place of the one followed longest ago); the steps of the run followed.
        mutating func follow(_ position: Int, answered: Bool) -> Int {
            if let index = runs.lastIndex(where: { $0.continues(position, answered: answered) }) {
                var run = runs.remove(at: index)
                run.follow(position)
                // A run this one now spans is the same walkers, seen before their turns mixed.
                runs.removeAll { $0.first >= run.first && $0.last <= run.last }
                runs.append(run)
            } else {
                if runs.count >= Self.limit { runs.removeFirst() }
                runs.append(Run(at: position))
            }
            return runs[runs.count - 1].steps
        }

        /// What the run followed last sends ahead (`Run.ahead`), up to where another run began:
        /// the names from there on are another walker's, taken or sent ahead by its run.
        mutating func ahead(window: Int, batch: Int = 1, end: Int = .max) -> ClosedRange<Int>? {
            guard !runs.isEmpty else { return nil }
            let current = runs.count - 1
            let front = runs[current].last
            let next = runs[..<current].lazy.map(\.first).filter { $0 > front }.min() ?? .max
            return runs[current].ahead(window: window, batch: batch, end: min(end, next))
        }
    }

    /// A directory's run of names that count up: `prefix` then the run's number, zero-padded to
    /// `width` digits (0: not padded).
    private struct Stream {
        var prefix: String
        var width: Int
        var runs = Runs()
    }

    /// A directory's entries as this client last listed them, and the caller's runs through them
    /// in listing order and in byte order.
    private struct Listing {
        var listed: UInt64
        var names: [String] = []
        private var positions: [String: Int] = [:]
        /// Byte order, made when first asked for after the listing grew.
        private var sorted: (names: [String], positions: [String: Int])?
        var runs = [Runs(), Runs()]

        init(listed: UInt64) { self.listed = listed }

        mutating func append(_ more: [String]) {
            for name in more where name != "." && name != ".." && names.count < LLiteStatahead.listingLimit {
                positions[name] = names.count
                names.append(name)
            }
            sorted = nil
        }

        /// The names in `order` (0: listing, 1: byte order) and where each is.
        mutating func order(_ order: Int) -> (names: [String], positions: [String: Int]) {
            if order == 0 { return (names, positions) }
            if let sorted { return sorted }
            let names = self.names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let made = (names, Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) }))
            sorted = made
            return made
        }
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var streams: [LustreFID: Stream] = [:]
        var listings: [LustreFID: Listing] = [:]
        var nextID: UInt64 = 1
    }

    /// Lookups sent ahead at most (`llite.*.statahead_max`; 0: off).
    let maximum: Tunable<Int>
    /// Lookups sent together in one `MDS_BATCH` at most (`llite.*.statahead_batch_max`; 0 or
    /// 1: each alone).
    let batchMaximum: Tunable<Int>
    /// Set once the MDS refused a batch (`EOPNOTSUPP`): lookups go one by one from then on.
    private let batchRefused = Atomic<Bool>(false)
    /// How long a result may be used after its lookup was sent.
    let lifetime: Double
    /// Steps of one in a row before lookups are sent ahead.
    static let stepsToStart = 2
    /// Results kept at most, all directories together.
    static let entryLimit = 4096
    /// Directories whose names are followed at most; past it they are all forgotten.
    static let streamLimit = 1024
    /// Listings kept at most, names kept of one listing, and how long one is kept (seconds).
    static let listingCountLimit = 8
    static let listingLimit = 1 << 16
    static let listingLifetime: Double = 60

    private let state = Mutex(State())
    /// Lookups sent ahead, lookups answered from them, and results dropped unused (expired,
    /// invalidated or never asked for), per `Kind`, for `statahead_stats`.
    private struct Counters {
        var sent = [0, 0]
        var hits = [0, 0]
        var wasted = [0, 0]
    }
    private let counters = Mutex(Counters())

    /// Lookups sent ahead, and lookups answered from them, both kinds together.
    var sentTotal: Int { counters.withLock { $0.sent.reduce(0, +) } }
    var hitsTotal: Int { counters.withLock { $0.hits.reduce(0, +) } }

    /// Where the lookups sent ahead wait for their replies (nil: the global pool): the loop that
    /// reads the MDS's replies, so a reply and the callers waiting for it go on without a
    /// thread hand-off (`LNetTaskExecutor`).
    private let taskExecutor: @Sendable () -> (any TaskExecutor)?

    init(maximum: Tunable<Int>, batchMaximum: Tunable<Int> = Tunable(1, range: 0...1), lifetime: Double,
         taskExecutor: @escaping @Sendable () -> (any TaskExecutor)? = { nil }) {
        self.maximum = maximum
        self.batchMaximum = batchMaximum
        self.lifetime = lifetime
        self.taskExecutor = taskExecutor
    }

    private var lifetimeNanoseconds: UInt64 { UInt64(max(0, lifetime) * 1e9) }

    /// Looks `name` up in `parent`: from a result sent ahead when there is one, else through
    /// `fetch`; and sends the next names' lookups when the names count up (several at a time
    /// through `fetchBatch`, when given).
    func lookup(parent: LustreFID, name: String, credentials: MDTCredentials,
                fetch: @escaping Fetch, fetchBatch: FetchBatch? = nil) async throws(LustreError) -> MDTAttributes {
        guard maximum.value > 0 else { return try await fetch(parent, name, credentials) }
        let key = Key(parent: parent, name: name)
        var outcome: Outcome?
        var kind = Kind.fname
        var sentAhead = true
        switch take(key, credentials) {
        case .ready(let ready, let readyKind): (outcome, kind) = (ready, readyKind)
        case .pending(let id, let pendingKind): (outcome, kind) = (await wait(key, id), pendingKind)
        case .none: sentAhead = false
        }
        advance(parent: parent, name: name, sentAhead: sentAhead, credentials: credentials, fetch: fetch,
                fetchBatch: fetchBatch)
        if outcome != nil { counters.withLock { $0.hits[kind.rawValue] += 1 } }
        switch outcome {
        case .found(let attributes): return attributes
        case .missing: throw LustreError(errno: ENOENT, "\(name) in \(parent)")
        case nil: return try await fetch(parent, name, credentials)
        }
    }

    /// Drops what was looked up ahead for `name` in `parent` (this client changes that name).
    func forget(parent: LustreFID, name: String) {
        let waiters = state.withLock { state -> [CheckedContinuation<Outcome?, Never>] in
            guard let entry = state.entries.removeValue(forKey: Key(parent: parent, name: name)) else { return [] }
            if entry.waiters.isEmpty { wasted(entry) }
            return entry.waiters
        }
        for waiter in waiters { waiter.resume(returning: nil) }
    }

    /// Drops every result that found `fid` (this client changes its attributes).
    func forget(fid: LustreFID) {
        state.withLock { state in
            let stale = state.entries.filter { if case .found(let a) = $0.value.outcome { a.fid == fid } else { false } }
            for (key, entry) in stale {
                state.entries[key] = nil
                wasted(entry)
            }
        }
    }

    /// Drops what was looked up ahead for `names` and, when given, for `fid`.
    func forget(_ names: [(parent: LustreFID, name: String)], fid: LustreFID?) {
        for (parent, name) in names { forget(parent: parent, name: name) }
        if let fid { forget(fid: fid) }
    }

    /// Notes entries of `parent` as `readdir` returned them (`fromStart`: the first page).
    func noteListing(parent: LustreFID, names: [String], fromStart: Bool) {
        guard maximum.value > 0 else { return }
        let now = MonotonicClock.nanoseconds()
        let lifetime = UInt64(Self.listingLifetime * 1e9)
        state.withLock { state in
            if fromStart || state.listings[parent] == nil {
                state.listings = state.listings.filter { now &- $0.value.listed < lifetime }
                if state.listings[parent] == nil && state.listings.count >= Self.listingCountLimit {
                    state.listings.removeAll(keepingCapacity: true)
                }
                state.listings[parent] = Listing(listed: now)
            }
            state.listings[parent]?.append(names)
        }
    }

    // MARK: Taking results

    private enum Taken {
        case ready(Outcome, Kind)
        case pending(UInt64, Kind)
        case none
    }

    private func wasted(_ entry: Entry) {
        counters.withLock { $0.wasted[entry.kind.rawValue] += 1 }
    }

    private func take(_ key: Key, _ credentials: MDTCredentials) -> Taken {
        let now = MonotonicClock.nanoseconds()
        return state.withLock { state -> Taken in
            guard let entry = state.entries[key] else { return .none }
            guard entry.credentials == credentials, now &- entry.sent < lifetimeNanoseconds else {
                if entry.outcome != nil {
                    state.entries[key] = nil
                    wasted(entry)
                }
                return .none
            }
            guard let outcome = entry.outcome else { return .pending(entry.id, entry.kind) }
            state.entries[key] = nil
            return .ready(outcome, entry.kind)
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

    /// Follows a lookup of `name` (`sentAhead`: answered from a name sent ahead) and sends the
    /// lookups it calls for.
    private func advance(parent: LustreFID, name: String, sentAhead: Bool, credentials: MDTCredentials,
                         fetch: @escaping Fetch, fetchBatch: FetchBatch?) {
        let window = maximum.value
        let batchLimit = fetchBatch == nil || batchRefused.load(ordering: .relaxed) ? 1 : max(1, batchMaximum.value)
        let now = MonotonicClock.nanoseconds()
        let (toSend, kind) = state.withLock { state -> ([(Key, UInt64)], Kind) in
            var kind = Kind.fname
            var names = self.countingNames(&state, parent: parent, name: name, answered: sentAhead, window: window,
                                           batch: batchLimit)
            if names.isEmpty {
                kind = .list
                names = self.listedNames(&state, parent: parent, name: name, answered: sentAhead, window: window,
                                         batch: batchLimit)
            }
            guard !names.isEmpty else { return ([], kind) }
            if state.entries.count + names.count > Self.entryLimit { prune(&state, now) }
            var toSend: [(Key, UInt64)] = []
            for next in names where state.entries.count < Self.entryLimit {
                let key = Key(parent: parent, name: next)
                guard state.entries[key] == nil else { continue }
                let id = state.nextID
                state.nextID += 1
                state.entries[key] = Entry(id: id, kind: kind, credentials: credentials, sent: now)
                toSend.append((key, id))
            }
            return (toSend, kind)
        }
        guard !toSend.isEmpty else { return }
        counters.withLock { $0.sent[kind.rawValue] += toSend.count }
        guard batchLimit > 1, let fetchBatch else {
            let executor = taskExecutor()
            for (key, id) in toSend { Task(executorPreference: executor) { [self] in await fetchOne(key, id, credentials, fetch) } }
            return
        }
        let executor = taskExecutor()
        for start in stride(from: 0, to: toSend.count, by: batchLimit) {
            let chunk = Array(toSend[start..<min(toSend.count, start + batchLimit)])
            Task(executorPreference: executor) { [self] in
                let results: [Result<MDTAttributes, LustreError>]
                do throws(LustreError) {
                    results = try await fetchBatch(parent, chunk.map(\.0.name), credentials)
                } catch {
                    if error.errno == EOPNOTSUPP && !batchRefused.exchange(true, ordering: .relaxed) {
                        CWARN("statahead: the MDS does not take batched lookups (\(error)); sending them one by one")
                    }
                    for (key, id) in chunk { await fetchOne(key, id, credentials, fetch) }
                    return
                }
                for ((key, id), result) in zip(chunk, results) {
                    switch result {
                    case .success(let attributes): complete(key, id, .found(attributes))
                    case .failure(let error): complete(key, id, error.errno == ENOENT ? .missing : nil)
                    }
                }
                // A short answer leaves no one waiting: those names are looked up again when asked.
                for (key, id) in chunk.dropFirst(results.count) { complete(key, id, nil) }
            }
        }
    }

    private func fetchOne(_ key: Key, _ id: UInt64, _ credentials: MDTCredentials, _ fetch: Fetch) async {
        do throws(LustreError) {
            complete(key, id, .found(try await fetch(key.parent, key.name, credentials)))
        } catch where error.errno == ENOENT {
            complete(key, id, .missing)
        } catch {
            complete(key, id, nil)
        }
    }

    /// The names to send ahead because `name` continues a run of counting names in `parent`.
    private func countingNames(_ state: inout State, parent: LustreFID, name: String, answered: Bool, window: Int,
                               batch: Int) -> [String] {
        guard let (prefix, number, width) = Self.split(name) else {
            state.streams.removeValue(forKey: parent)
            return []
        }
        var stream: Stream
        if let known = state.streams[parent], known.prefix == prefix, known.width == width {
            stream = known
        } else {
            if state.streams.count >= Self.streamLimit && state.streams[parent] == nil {
                state.streams.removeAll(keepingCapacity: true)
            }
            stream = Stream(prefix: prefix, width: width)
        }
        _ = stream.runs.follow(number, answered: answered)
        let ahead = stream.runs.ahead(window: window, batch: batch)
        state.streams[parent] = stream
        return ahead.map { $0.map { Self.name(prefix: prefix, number: $0, width: width) } } ?? []
    }

    /// The names to send ahead because `name` follows the last lookups in an order of `parent`'s
    /// listing (0: as listed, 1: byte order, as `ls` sorts in the C locale); the order whose
    /// run is longer wins.
    private func listedNames(_ state: inout State, parent: LustreFID, name: String, answered: Bool, window: Int,
                             batch: Int) -> [String] {
        guard var listing = state.listings.removeValue(forKey: parent) else { return [] }
        defer { state.listings[parent] = listing }
        var best: (order: Int, steps: Int)?
        for order in 0..<2 {
            guard let position = listing.order(order).positions[name] else { continue }
            let steps = listing.runs[order].follow(position, answered: answered)
            if steps > best?.steps ?? -1 { best = (order, steps) }
        }
        guard let order = best?.order else { return [] }
        let names = listing.order(order).names
        guard let ahead = listing.runs[order].ahead(window: window, batch: batch, end: names.count) else { return [] }
        return Array(names[ahead])
    }

    /// Drops expired results (no one waits for a result that is done).
    private func prune(_ state: inout State, _ now: UInt64) {
        let lifetime = lifetimeNanoseconds
        for (key, entry) in state.entries where entry.outcome != nil && now &- entry.sent >= lifetime {
            state.entries[key] = nil
            wasted(entry)
        }
    }

    /// `llite.*.statahead_stats`, in Lustre's words: lookups sent ahead (`statahead total`),
    /// results dropped unused (`statahead wrong`), and per kind sent, answered from and dropped.
    func statsText() -> String {
        let c = counters.withLock { $0 }
        let (f, l) = (Kind.fname.rawValue, Kind.list.rawValue)
        return """
            statahead total: \(c.sent[f] + c.sent[l])
            statahead wrong: \(c.wasted[f] + c.wasted[l])
            list_total: \(c.sent[l])
            list_hit: \(c.hits[l])
            list_miss: \(c.wasted[l])
            fname_total: \(c.sent[f])
            fname_hit: \(c.hits[f])
            fname_miss: \(c.wasted[f])

            """
    }
}
