import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs find DIR... [--name P] [--type T] [--size [+-]N[kMGTPE]] [--mtime|--atime|--ctime [+-]N[smhdwy]]
/// [--uid|--user N] [--gid|--group N] [--stripe-count [+-]N] [--stripe-size [+-]N[kMG]] [--ost IDX]
/// [--layout raid0] [--mdt IDX] [--maxdepth N] [--mindepth N] [--print0]`: prints matching paths,
/// one per line, with Lustre's options and find(1)'s comparison rules.
struct Find: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find files by name, type, size, times, owner, layout or OST.")

    @Option(name: [.customLong("name"), .customLong("name", withSingleDash: true)], help: "A shell pattern for the name.")
    var name: String?
    @Option(name: [.customShort("t"), .customLong("type"), .customLong("type", withSingleDash: true)],
            help: "f (file), d (directory), l (symlink), b, c, p or s.")
    var type: String?
    @Option(name: [.customShort("s"), .customLong("size"), .customLong("size", withSingleDash: true)], parsing: .unconditional,
            help: "Size N, +N (more) or -N (less); units b (512), k, M, G, T, P, E, bytes without.")
    var size: String?
    @Option(name: [.customShort("M"), .customLong("mtime"), .customLong("mtime", withSingleDash: true)], parsing: .unconditional,
            help: "Modified N, +N (more than) or -N (less than) days ago; or with s, m, h, d, w, y.")
    var mtime: String?
    @Option(name: [.customShort("A"), .customLong("atime"), .customLong("atime", withSingleDash: true)], parsing: .unconditional,
            help: "Accessed N, +N or -N days ago (units as --mtime).")
    var atime: String?
    @Option(name: [.customShort("C"), .customLong("ctime"), .customLong("ctime", withSingleDash: true)], parsing: .unconditional,
            help: "Changed N, +N or -N days ago (units as --mtime).")
    var ctime: String?
    @Option(name: [.customShort("u"), .customShort("U"), .customLong("uid"), .customLong("user")], help: "Owner, a uid or user name.")
    var user: String?
    @Option(name: [.customShort("g"), .customShort("G"), .customLong("gid"), .customLong("group")], help: "Group, a gid or group name.")
    var group: String?
    @Option(name: [.customShort("c"), .customLong("stripe-count")], parsing: .unconditional,
            help: "Stripe count N, +N (more) or -N (fewer); files only.")
    var stripeCount: String?
    @Option(name: [.customShort("S"), .customLong("stripe-size")], parsing: .unconditional,
            help: "Stripe size N, +N or -N, with k, M or G; files only.")
    var stripeSize: String?
    @Option(name: [.customShort("O"), .customLong("ost")], help: "Files with an object on this OST index (repeatable, or comma-separated).")
    var ost: [String] = []
    @Option(name: [.customShort("L"), .customLong("layout")], help: "Files with this layout pattern (raid0).")
    var layout: String?
    @Option(name: [.customShort("m"), .customLong("mdt"), .customLong("mdt-index")], help: "Entries on this MDT index.")
    var mdt: UInt32?
    @Option(name: [.customLong("maxdepth"), .customLong("maxdepth", withSingleDash: true)], help: "Descend at most N levels.")
    var maxDepth: Int?
    @Option(name: [.customLong("mindepth"), .customLong("mindepth", withSingleDash: true)], help: "Print nothing above N levels.")
    var minDepth: Int?
    @Flag(name: [.customShort("0"), .customLong("print0"), .customLong("print0", withSingleDash: true)],
          help: "End each path with NUL instead of a newline.")
    var print0 = false
    @Flag(name: [.customShort("l"), .customLong("lazy")], help: "Accepted for Lustre's syntax: sizes are always exact here.")
    var lazy = false
    @Option(name: .customLong("negate"), help: .hidden) var negated: [String] = []
    @Argument(help: "Where to start.") var paths: [String]

    /// The criterion each spelling of an option names, for `!`.
    static let negatable: [String: String] = [
        "--name": "name", "-name": "name", "-t": "type", "--type": "type", "-type": "type",
        "-s": "size", "--size": "size", "-size": "size", "-M": "mtime", "--mtime": "mtime", "-mtime": "mtime",
        "-A": "atime", "--atime": "atime", "-atime": "atime", "-C": "ctime", "--ctime": "ctime", "-ctime": "ctime",
        "-u": "uid", "-U": "uid", "--uid": "uid", "--user": "uid", "-g": "gid", "-G": "gid", "--gid": "gid",
        "--group": "gid", "-c": "stripe-count", "--stripe-count": "stripe-count", "-S": "stripe-size",
        "--stripe-size": "stripe-size", "-O": "ost", "--ost": "ost", "-L": "layout", "--layout": "layout",
        "-m": "mdt", "--mdt": "mdt", "--mdt-index": "mdt",
    ]

    /// `! --name X` → `--negate name --name X`; a `!` before anything else is left for the
    /// parser to refuse.
    static func rewritingNegations(_ arguments: [String]) -> [String] {
        var result: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "!", index + 1 < arguments.count {
                let option = arguments[index + 1].split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
                if let name = negatable[option] {
                    result += ["--negate", name]
                    index += 1
                    continue
                }
            }
            result.append(argument)
            index += 1
        }
        return result
    }

    /// `N`, `+N` or `-N` against a value (find(1)'s rule: equal, greater, less).
    enum Comparison: Equatable {
        case equal(Int64), more(Int64), less(Int64)

        func holds(_ value: Int64) -> Bool {
            switch self {
            case .equal(let n): value == n
            case .more(let n): value > n
            case .less(let n): value < n
            }
        }
    }

    /// A comparison and the unit its number counts in.
    struct Criterion: Equatable {
        var comparison: Comparison
        var unit: Int64

        /// A size: `+N` more than N units, `-N` less than N units, `N` within the N-th unit
        /// (rounded up, as find(1)), so `--size -1G` is every file under 1 GiB.
        func holdsForSize(_ bytes: Int64) -> Bool {
            switch comparison {
            case .more(let n): bytes > n &* unit
            case .less(let n): bytes < n &* unit
            case .equal(let n): (bytes + unit - 1) / unit == n
            }
        }

        /// An age: whole units elapsed (rounded down, as find(1)) compared with N, so
        /// `--mtime +1` is two days or more and `--mtime -1` less than one.
        func holdsForAge(_ seconds: Int64) -> Bool {
            comparison.holds(max(seconds, 0) / unit)
        }
    }

    static func comparison(_ text: String) -> Comparison? {
        if text.hasPrefix("+"), let n = Int64(text.dropFirst()), n >= 0 { return .more(n) }
        if text.hasPrefix("-"), let n = Int64(text.dropFirst()), n >= 0 { return .less(n) }
        if let n = Int64(text), n >= 0 { return .equal(n) }
        return nil
    }

    /// `[+-]N[suffix]` with the unit of each suffix; `none` is the unit without one.
    static func criterion(_ text: String, units: [Character: Int64], none: Int64) -> Criterion? {
        var number = text
        var unit = none
        if let last = text.last, !last.isNumber {
            guard let value = units[last] else { return nil }
            unit = value
            number = String(text.dropLast())
        }
        return comparison(number).map { Criterion(comparison: $0, unit: unit) }
    }

    static let sizeUnits: [Character: Int64] = [
        "b": 512, "c": 1, "k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60,
    ]
    static let timeUnits: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one PATH") }
        if let type, !["f", "d", "l", "b", "c", "p", "s"].contains(type) {
            throw ValidationError("--type must be f, d, l, b, c, p or s")
        }
        if let stripeCount, Self.comparison(stripeCount) == nil { throw ValidationError("--stripe-count must be N, +N or -N") }
        if let size, Self.criterion(size, units: Self.sizeUnits, none: 1) == nil {
            throw ValidationError("--size must be N, +N or -N with b, k, M, G, T, P or E")
        }
        if let stripeSize, Self.criterion(stripeSize, units: Self.sizeUnits, none: 1) == nil {
            throw ValidationError("--stripe-size must be N, +N or -N with k, M or G")
        }
        for (option, value) in [("--mtime", mtime), ("--atime", atime), ("--ctime", ctime)] {
            if let value, Self.criterion(value, units: Self.timeUnits, none: 86_400) == nil {
                throw ValidationError("\(option) must be N, +N or -N with s, m, h, d, w or y")
            }
        }
        if let user, Self.uid(user) == nil { throw ValidationError("no user '\(user)'") }
        if let group, Self.gid(group) == nil { throw ValidationError("no group '\(group)'") }
        if let layout, layout != "raid0" { throw ValidationError("--layout: only raid0 layouts exist here") }
        for name in negated where !Set(Self.negatable.values).contains(name) {
            throw ValidationError("nothing to negate called '\(name)'")
        }
        for value in ostIndexes where value == nil { throw ValidationError("--ost takes OST indexes") }
    }

    static func uid(_ text: String) -> uid_t? {
        if let id = UInt32(text) { return id }
        return getpwnam(text).map { $0.pointee.pw_uid }
    }

    static func gid(_ text: String) -> gid_t? {
        if let id = UInt32(text) { return id }
        return getgrnam(text).map { $0.pointee.gr_gid }
    }

    private var ostIndexes: [UInt32?] {
        ost.flatMap { $0.split(separator: ",") }.map { text in
            // Accept "1" or a UUID like testfs-OST0001_UUID.
            if let index = UInt32(text) { return index }
            let name = text.hasSuffix("_UUID") ? String(text.dropLast(5)) : String(text)
            return (try? TargetName(parsing: name))?.index
        }
    }

    func run() throws {
        let matcher = Matcher(find: self, now: time(nil))
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                let mount = try LustreMounts.containing(path)
                var st = stat()
                guard lstat(path, &st) == 0 else { throw LustreError.fromErrno("'\(path)'") }
                if let mdt, (mdt == (try Getstripe.mdtIndex(of: mount))) == negated.contains("mdt") { continue }
                try visit(path, name: LustreMounts.split(path).name, status: st, depth: 0, matcher: matcher)
            } catch {
                failure = fail("find", error)
            }
        }
        if let failure { throw failure }
    }

    private func visit(_ path: String, name entryName: String, status: stat, depth: Int, matcher: Matcher) throws(LustreError) {
        if depth >= (minDepth ?? 0), try matcher.matches(path, name: entryName, status: status) {
            print(path, terminator: print0 ? "\0" : "\n")
        }
        guard status.st_mode & S_IFMT == S_IFDIR, maxDepth.map({ depth < $0 }) ?? true else { return }
        for entry in DirectoryListing.entries(path) {
            let child = path.hasSuffix("/") ? path + entry.name : path + "/" + entry.name
            try visit(child, name: entry.name, status: entry.status, depth: depth + 1, matcher: matcher)
        }
    }

    /// The criteria, parsed once.
    struct Matcher {
        var name: String?
        var type: UInt32?
        var size: Criterion?
        /// Which of a file's times a time criterion tests.
        enum TimeField { case modified, accessed, changed }
        var times: [(TimeField, Criterion)] = []
        var uid: uid_t?
        var gid: gid_t?
        var stripeCount: Comparison?
        var stripeSize: Criterion?
        var osts: Set<UInt32>
        var now: Int64
        /// The criteria a `!` negates.
        var negated: Set<String>
        /// `--layout raid0`.
        var raid0: Bool

        init(find: Find, now: time_t) {
            name = find.name
            type = find.type.map { type in
                switch type {
                case "f": S_IFREG
                case "d": S_IFDIR
                case "l": S_IFLNK
                case "b": S_IFBLK
                case "c": S_IFCHR
                case "p": S_IFIFO
                default: S_IFSOCK
                }
            }
            size = find.size.flatMap { Find.criterion($0, units: Find.sizeUnits, none: 1) }
            for (value, field) in [(find.mtime, TimeField.modified), (find.atime, .accessed), (find.ctime, .changed)] {
                if let value, let criterion = Find.criterion(value, units: Find.timeUnits, none: 86_400) {
                    times.append((field, criterion))
                }
            }
            uid = find.user.flatMap(Find.uid)
            gid = find.group.flatMap(Find.gid)
            stripeCount = find.stripeCount.flatMap(Find.comparison)
            stripeSize = find.stripeSize.flatMap { Find.criterion($0, units: Find.sizeUnits, none: 1) }
            osts = Set(find.ostIndexes.compactMap { $0 })
            self.now = Int64(now)
            negated = Set(find.negated)
            raid0 = find.layout != nil
        }

        func matches(_ path: String, name entryName: String, status st: stat) throws(LustreError) -> Bool {
            /// Whether criterion `name` holds, or (after `!`) fails.
            func test(_ name: String, _ holds: Bool) -> Bool { holds != negated.contains(name) }
            if let name, !test("name", fnmatch(name, entryName, 0) == 0) { return false }
            if let type, !test("type", st.st_mode & S_IFMT == type) { return false }
            if let size, !test("size", size.holdsForSize(Int64(st.st_size))) { return false }
            for (field, criterion) in times {
                let (seconds, name) = switch field {
                case .modified: (st.st_mtim.tv_sec, "mtime")
                case .accessed: (st.st_atim.tv_sec, "atime")
                case .changed: (st.st_ctim.tv_sec, "ctime")
                }
                if !test(name, criterion.holdsForAge(now - Int64(seconds))) { return false }
            }
            if let uid, !test("uid", st.st_uid == uid) { return false }
            if let gid, !test("gid", st.st_gid == gid) { return false }
            guard stripeCount != nil || stripeSize != nil || !osts.isEmpty || raid0 else { return true }
            // Layout criteria concern files only, as on Lustre, negated or not.
            guard st.st_mode & S_IFMT == S_IFREG else { return false }
            // Every file's layout is RAID-0 here.
            if raid0, !test("layout", true) { return false }
            let layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
            if let stripeCount, !test("stripe-count", stripeCount.holds(Int64(layout.objects.count))) { return false }
            if let stripeSize, !test("stripe-size", stripeSize.holdsForSize(Int64(layout.stripeSize))) { return false }
            if !osts.isEmpty, !test("ost", layout.objects.contains(where: { osts.contains($0.ostIndex) })) { return false }
            return true
        }
    }
}
