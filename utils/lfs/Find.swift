import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs find DIR [--name PATTERN] [--type f|d|l] [--stripe-count [+-]N] [--ost IDX] [--maxdepth N]`:
/// prints matching paths, one per line.
struct Find: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find",
        abstract: "Find files by name, type, stripe count or OST.")

    @Option(name: [.customLong("name"), .customLong("name", withSingleDash: true)], help: "A shell pattern for the name.")
    var name: String?
    @Option(name: [.customShort("t"), .customLong("type"), .customLong("type", withSingleDash: true)],
            help: "f (file), d (directory) or l (symlink).")
    var type: String?
    @Option(name: [.customShort("c"), .customLong("stripe-count")], parsing: .unconditional,
            help: "Stripe count N, +N (more) or -N (fewer); files only.")
    var stripeCount: String?
    @Option(name: [.customShort("O"), .customLong("ost")], help: "Files with an object on this OST index (repeatable, or comma-separated).")
    var ost: [String] = []
    @Option(name: [.customLong("maxdepth"), .customLong("maxdepth", withSingleDash: true)], help: "Descend at most N levels.")
    var maxDepth: Int?
    @Argument(help: "Where to start.") var paths: [String]

    enum Comparison { case equal(Int), more(Int), fewer(Int) }

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one PATH") }
        if let type, !["f", "d", "l"].contains(type) { throw ValidationError("--type must be f, d or l") }
        if let stripeCount, Self.comparison(stripeCount) == nil { throw ValidationError("--stripe-count must be N, +N or -N") }
        for value in ostIndexes where value == nil { throw ValidationError("--ost takes OST indexes") }
    }

    private var ostIndexes: [UInt32?] {
        ost.flatMap { $0.split(separator: ",") }.map { text in
            // Accept "1" or a UUID like testfs-OST0001_UUID.
            if let index = UInt32(text) { return index }
            return (try? TargetName(parsing: String(text)))?.index
        }
    }

    static func comparison(_ text: String) -> Comparison? {
        if text.hasPrefix("+"), let n = Int(text.dropFirst()) { return .more(n) }
        if text.hasPrefix("-"), let n = Int(text.dropFirst()), n >= 0 { return .fewer(n) }
        if let n = Int(text) { return .equal(n) }
        return nil
    }

    func run() throws {
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                _ = try LustreMounts.containing(path)
                var st = stat()
                guard lstat(path, &st) == 0 else { throw LustreError.fromErrno("'\(path)'") }
                try visit(path, name: LustreMounts.split(path).name, mode: st.st_mode, depth: 0)
            } catch {
                failure = fail("find", error)
            }
        }
        if let failure { throw failure }
    }

    private func visit(_ path: String, name entryName: String, mode: UInt32, depth: Int) throws(LustreError) {
        if try matches(path, name: entryName, mode: mode) { print(path) }
        guard mode & S_IFMT == S_IFDIR, maxDepth.map({ depth < $0 }) ?? true else { return }
        for entry in DirectoryListing.entries(path) {
            let child = path.hasSuffix("/") ? path + entry.name : path + "/" + entry.name
            try visit(child, name: entry.name, mode: entry.mode, depth: depth + 1)
        }
    }

    private func matches(_ path: String, name entryName: String, mode: UInt32) throws(LustreError) -> Bool {
        if let name, fnmatch(name, entryName, 0) != 0 { return false }
        if let type {
            let want: UInt32 = type == "f" ? S_IFREG : type == "d" ? S_IFDIR : S_IFLNK
            if mode & S_IFMT != want { return false }
        }
        guard stripeCount != nil || !ost.isEmpty else { return true }
        // Layout criteria concern files only, as on Lustre.
        guard mode & S_IFMT == S_IFREG else { return false }
        let layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
        if let stripeCount, let comparison = Self.comparison(stripeCount) {
            let count = layout.objects.count
            switch comparison {
            case .equal(let n): if count != n { return false }
            case .more(let n): if count <= n { return false }
            case .fewer(let n): if count >= n { return false }
            }
        }
        if !ost.isEmpty {
            let wanted = Set(ostIndexes.compactMap { $0 })
            if !layout.objects.contains(where: { wanted.contains($0.ostIndex) }) { return false }
        }
        return true
    }
}
