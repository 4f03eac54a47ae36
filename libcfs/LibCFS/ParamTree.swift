#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The parameter tree behind `lctl get_param`, `set_param` and `list_param`:
/// every tunable, counter and status file of the process, by Lustre's names
/// (`osc.testfs-OST0000-osc-ffff8800.max_rpcs_in_flight`,
/// `obdfilter.testfs-OST0000.stats`, `debug`).
///
/// One `shared` tree per process is the only global mutable state the project
/// allows; it starts with libcfs's own `debug`, `debug_mb`, `fail_loc` and
/// `fail_val`.  A device registers its parameters when it is set up and
/// removes them all with `unregister(prefix:)` when it is cleaned up.
///
/// Getters and setters run outside the tree's lock, so they may be slow or
/// use the tree themselves.
public final class ParamTree: Sendable {
    /// What `get` returns for one parameter.
    public typealias Getter = @Sendable () -> String
    /// Applies a `set_param` value; throws (ideally a `LustreError` `EINVAL`
    /// with a clear message) and keeps the old value when the text is bad.
    public typealias Setter = @Sendable (String) throws -> Void
    /// Validates a value without applying it (`check`); throws as the setter would.
    public typealias Checker = @Sendable (String) throws(LustreError) -> Void

    private struct Entry: Sendable {
        let name: String
        let path: ParamPattern
        let get: Getter
        let set: Setter?
        var check: Checker? = nil
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// The process's tree, holding libcfs's parameters from the start.
    public static let shared: ParamTree = {
        let tree = ParamTree()
        LustreDebug.registerParams(in: tree)
        FailLoc.registerParams(in: tree)
        LustreVersion.registerParams(in: tree)
        ObdTimeout.registerParams(in: tree)
        return tree
    }()

    /// An empty tree (tests, tools); daemons use `shared`.
    public init() {}

    /// Adds a parameter.  It is writable when it has a setter.
    ///
    /// - Throws: `EEXIST` if `name` is taken; `EINVAL` if `name` is empty,
    ///   has an empty component, or contains glob characters, `=` or spaces.
    public func register(_ name: String, get: @escaping Getter, set: Setter? = nil) throws(LustreError) {
        try ParamTree.validate(name)
        let entry = Entry(name: name, path: ParamPattern(name), get: get, set: set)
        try entries.withLock { (table: inout [String: Entry]) throws(LustreError) in
            guard table[name] == nil else {
                throw LustreError(errno: EEXIST, "parameter \(name) is already registered")
            }
            table[name] = entry
        }
    }

    /// Registers a tunable: `get_param` prints its text, `set_param` parses,
    /// validates and sets it, `check` parses and validates only.
    public func register<V>(_ name: String, tunable: Tunable<V>) throws(LustreError) {
        try register(name, tunable: tunable, get: { tunable.text })
    }

    /// Registers a tunable whose file `get` prints (Lustre files that show more than the value,
    /// such as `max_cached_mb`); setting and checking are the tunable's.
    public func register<V>(_ name: String, tunable: Tunable<V>, get: @escaping Getter) throws(LustreError) {
        try register(name, get: get, set: { try tunable.set(text: $0) })
        entries.withLock { $0[name]?.check = { text throws(LustreError) in try tunable.check(text: text) } }
    }

    /// Registers a stats file: `get_param` prints it, any `set_param` clears
    /// it, as writing to a Lustre stats file does.
    public func register(_ name: String, stats: LProcStats) throws(LustreError) {
        try register(name, get: { stats.format() }, set: { _ in stats.reset() })
    }

    /// Removes the parameter called exactly `name`; false if there was none.
    @discardableResult
    public func unregister(_ name: String) -> Bool {
        entries.withLock { $0.removeValue(forKey: name) != nil }
    }

    /// Removes `prefix` and every parameter below it, by whole components
    /// (`osc.testfs-OST0000-osc-ffff8800` removes that device's parameters,
    /// not those of `…-ffff88001`); a trailing dot is ignored (`osc.X.` is `osc.X`, which three
    /// devices got wrong when it matched nothing).  Returns how many were removed.
    @discardableResult
    public func unregister(prefix: String) -> Int {
        var prefix = Substring(prefix)
        while prefix.hasSuffix(".") { prefix = prefix.dropLast() }
        let head = ParamPattern(String(prefix)).components
        return entries.withLock { table in
            let doomed = table.values.filter { Array($0.path.components.prefix(head.count)) == head }
            for entry in doomed { table.removeValue(forKey: entry.name) }
            return doomed.count
        }
    }

    /// The parameters matching `pattern` with their values, sorted as `lctl
    /// get_param` lists them (component by component).
    ///
    /// `pattern` is matched per dot-separated component with fnmatch rules
    /// (`*`, `?`, `[...]`); `/` may stand for `.`; NIDs count as one component.
    ///
    /// - Throws: `ENOENT` if nothing matches.  A getter's own failure is not
    ///   thrown: its value reads as the error text, as a failing read of one
    ///   file does not stop `lctl get_param` listing the rest.
    public func get(_ pattern: String) throws(LustreError) -> [(name: String, value: String)] {
        let matched = try lookup(pattern)
        return matched.map { ($0.name, $0.get()) }
    }

    /// Sets every parameter matching `pattern` to `value`, as `lctl set_param
    /// pattern=value` does, and returns the names set.
    ///
    /// All matches are attempted; if any failed (read-only: `EACCES`; rejected
    /// value: the setter's error, normally `EINVAL`), the first failure is
    /// thrown after the others were set, with the parameter's name in front.
    ///
    /// - Throws: `ENOENT` if nothing matches.
    @discardableResult
    public func set(_ pattern: String, value: String) throws(LustreError) -> [String] {
        let matched = try lookup(pattern)
        var done: [String] = []
        var firstError: LustreError?
        for entry in matched {
            guard let setter = entry.set else {
                firstError = firstError ?? LustreError(errno: EACCES, "\(entry.name) is read-only")
                continue
            }
            do {
                try setter(value)
                done.append(entry.name)
            } catch let error as LustreError {
                firstError = firstError ?? error.adding(context: "set \(entry.name)=\(value)")
            } catch {
                firstError = firstError ?? LustreError.invalid("set \(entry.name)=\(value): \(error)")
            }
        }
        if let firstError { throw firstError }
        return done
    }

    /// Validates `value` for every parameter matching `pattern` without
    /// setting anything, and returns the names whose validation ran (tunables;
    /// other writable parameters can only be judged by setting them).
    ///
    /// - Throws: `ENOENT` if nothing matches; `EACCES` if a match is
    ///   read-only; the first rejection, with the parameter's name in front.
    @discardableResult
    public func check(_ pattern: String, value: String) throws(LustreError) -> [String] {
        var checked: [String] = []
        for entry in try lookup(pattern) {
            guard entry.set != nil else { throw LustreError(errno: EACCES, "\(entry.name) is read-only") }
            guard let check = entry.check else { continue }
            do {
                try check(value)
            } catch {
                throw error.adding(context: "set \(entry.name)=\(value)")
            }
            checked.append(entry.name)
        }
        return checked
    }

    /// The names matching `pattern` (all names for `*` per level, or use
    /// `listAll()`), sorted, each with whether `set_param` can change it
    /// (`lctl list_param -F` marks those with `=`).
    public func list(_ pattern: String) -> [(name: String, isWritable: Bool)] {
        ((try? lookup(pattern)) ?? []).map { ($0.name, $0.set != nil) }
    }

    /// Every registered name, sorted.
    public func listAll() -> [String] {
        entries.withLock { Array($0.values) }.sorted(by: ParamTree.order).map(\.name)
    }

    private func lookup(_ pattern: String) throws(LustreError) -> [Entry] {
        let trimmed = pattern.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw LustreError.invalid("empty parameter pattern") }
        let wanted = ParamPattern(trimmed)
        let found = entries.withLock { table in
            if !wanted.components.contains(where: ParamPattern.hasGlob),
               let exact = table[wanted.components.joined(separator: ".")] {
                return [exact]
            }
            return table.values.filter { wanted.matches($0.path) }
        }
        guard !found.isEmpty else {
            throw LustreError(errno: ENOENT, "param_path '\(trimmed)'")
        }
        return found.sorted(by: ParamTree.order)
    }

    private static func order(_ a: Entry, _ b: Entry) -> Bool {
        a.path.components.lexicographicallyPrecedes(b.path.components)
    }

    private static func validate(_ name: String) throws(LustreError) {
        guard !name.isEmpty else { throw LustreError.invalid("empty parameter name") }
        let bad = name.unicodeScalars.first { " \t\n=*?[]/".unicodeScalars.contains($0) }
        if let bad { throw LustreError.invalid("parameter name '\(name)' contains '\(bad)'") }
        if ParamPattern(name).components.contains(where: \.isEmpty) {
            throw LustreError.invalid("parameter name '\(name)' has an empty component")
        }
    }
}
