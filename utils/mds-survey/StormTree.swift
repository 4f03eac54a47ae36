import ObdClass

/// What one name in the storm's tree is: its kind and FID (hard links share the FID).
struct StormNode: Equatable, Sendable, CustomStringConvertible {
    enum Kind: Equatable, Sendable {
        case file
        case directory
        case symlink(target: String)
    }

    var kind: Kind
    var fid: LustreFID

    var isDirectory: Bool { kind == .directory }

    var description: String {
        switch kind {
        case .file: "file \(fid)"
        case .directory: "dir \(fid)"
        case .symlink(let target): "symlink \(fid) -> \(target)"
        }
    }
}

/// A storm thread's model of its subtree: what each relative path ("n1", "n1/n4") holds and
/// the sequence number of the last operation that changed it. A path is known to be on disk
/// as modelled once that operation is committed; paths absent from `entries` were last changed
/// by `absentSequence` (0: never touched).
struct StormTree: Sendable {
    struct Entry: Sendable {
        var node: StormNode?
        var sequence: UInt64
    }

    private(set) var entries: [String: Entry] = [:]
    private(set) var absentSequence: UInt64 = 0
    /// Subtrees a failed operation may have changed, with its sequence: a failed rename of a
    /// directory may have brought names below its destination the model never knew of.
    private(set) var uncertainSubtrees: [String: UInt64] = [:]

    /// The node at `path`; "" is the thread's own directory, always there.
    func node(_ path: String) -> StormNode? { entries[path]?.node }

    /// The operation that last changed `path`.
    func sequence(_ path: String) -> UInt64 {
        if let entry = entries[path] { return entry.sequence }
        var sequence = absentSequence
        for (subtree, touched) in uncertainSubtrees where Self.isWithin(path, subtree) {
            sequence = max(sequence, touched)
        }
        return sequence
    }

    /// Every path that exists, sorted.
    var presentPaths: [String] { entries.compactMap { $0.value.node == nil ? nil : $0.key }.sorted() }

    /// Every path the model knows something about (present, or removed by a recorded operation).
    var knownPaths: [String] { entries.keys.sorted() }

    var count: Int { entries.values.count(where: { $0.node != nil }) }

    static func join(_ parent: String, _ name: String) -> String { parent.isEmpty ? name : parent + "/" + name }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    static func name(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func depth(_ path: String) -> Int { path.isEmpty ? 0 : path.count(where: { $0 == "/" }) + 1 }

    /// Whether `path` is `ancestor` or below it.
    static func isWithin(_ path: String, _ ancestor: String) -> Bool {
        path == ancestor || path.hasPrefix(ancestor + "/")
    }

    func children(of directory: String) -> [String] {
        entries.compactMap { path, entry in
            entry.node != nil && !path.isEmpty && Self.parent(of: path) == directory ? path : nil
        }.sorted()
    }

    mutating func set(_ path: String, _ node: StormNode, sequence: UInt64) {
        entries[path] = Entry(node: node, sequence: sequence)
    }

    mutating func remove(_ path: String, sequence: UInt64) {
        entries[path] = Entry(node: nil, sequence: sequence)
    }

    /// Marks `path` and everything below it as changed by `sequence`, their nodes as they were:
    /// for an operation that failed, whose effect on them is unknown.
    mutating func touch(_ path: String, sequence: UInt64) {
        let below = entries.keys.filter { Self.isWithin($0, path) }
        for known in below { entries[known]?.sequence = sequence }
        uncertainSubtrees[path] = sequence
        if entries[path] == nil { entries[path] = Entry(node: nil, sequence: sequence) }
    }

    /// A rename: `to` (if any) is replaced, and `from` with everything below it moves there.
    mutating func move(_ from: String, to: String, sequence: UInt64) {
        let moving = entries.filter { $0.value.node != nil && Self.isWithin($0.key, from) }
        for path in entries.keys where Self.isWithin(path, to) { entries[path] = Entry(node: nil, sequence: sequence) }
        for (path, entry) in moving {
            entries[path] = Entry(node: nil, sequence: sequence)
            entries[to + path.dropFirst(from.count)] = Entry(node: entry.node, sequence: sequence)
        }
    }

    /// Replaces the whole model with what the server showed, all of it changed by `sequence`
    /// (a resynchronisation, committed like any other operation).
    mutating func reset(to server: [String: StormNode], sequence: UInt64) {
        entries = server.mapValues { Entry(node: $0, sequence: sequence) }
        absentSequence = sequence
        uncertainSubtrees = [:]
    }
}
