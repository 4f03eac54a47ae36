import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs getstripe [-c] [-S] [-i] [-L] [-g] [-m] [-F] [-d] [-r] [-v] [-y] [-O OST] PATH...`: layouts
/// as Lustre prints them.
struct Getstripe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getstripe",
        abstract: "Print the layout of files, or the default layout of directories.")

    @Flag(name: [.customShort("c"), .customLong("stripe-count")], help: "Only the stripe count.") var count = false
    @Flag(name: [.customShort("S"), .customLong("stripe-size")], help: "Only the stripe size.") var size = false
    @Flag(name: [.customShort("i"), .customLong("stripe-index")], help: "Only the first OST's index.") var index = false
    @Flag(name: [.customShort("L"), .customLong("layout")], help: "Only the layout pattern.") var pattern = false
    @Flag(name: [.customShort("g"), .customLong("generation")], help: "Only the layout generation.") var generation = false
    @Flag(name: [.customShort("m"), .customLong("mdt-index"), .customLong("mdt")], help: "Only the index of the MDT holding it.")
    var mdtIndex = false
    @Flag(name: [.customShort("F"), .customLong("fid")], help: "Only the FID.") var fid = false
    @Flag(name: [.customShort("d"), .customLong("directory")], help: "A directory's own default, not its files.")
    var directoryOnly = false
    @Flag(name: [.customShort("r"), .customLong("recursive")], help: "Into subdirectories too.") var recursive = false
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Do not print the path.") var quiet = false
    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Also the magic and the file's FID.") var verbose = false
    @Flag(name: [.customShort("y"), .customLong("yaml")], help: "Objects as YAML.") var yaml = false
    @Option(name: [.customShort("O"), .customLong("obd")], help: "Only files with an object on this OST (index or UUID).")
    var obd: String?
    @Argument(help: "Files or directories.") var paths: [String]

    private var fields: LayoutText.Fields {
        var fields: LayoutText.Fields = []
        if count { fields.insert(.count) }
        if size { fields.insert(.size) }
        if pattern { fields.insert(.pattern) }
        if generation { fields.insert(.generation) }
        if index { fields.insert(.offset) }
        return fields.isEmpty ? .all : fields
    }

    /// The OST of `-O`: its index, from `3`, `0x3` or a UUID `testfs-OST0003_UUID`.
    static func ostIndex(_ text: String) throws(LustreError) -> UInt32 {
        if let index = UInt32(text) { return index }
        if text.hasPrefix("0x"), let index = UInt32(text.dropFirst(2), radix: 16) { return index }
        let name = text.hasSuffix("_UUID") ? String(text.dropLast(5)) : text
        guard let target = try? TargetName(parsing: name), target.kind == .ost else {
            throw LustreError.invalid("'\(text)' is not an OST index or UUID")
        }
        return target.index
    }

    func validate() throws {
        if let obd {
            do throws(LustreError) { _ = try Self.ostIndex(obd) } catch { throw ValidationError(error.context) }
        }
    }

    func run() throws {
        let marked = try obd.map { text throws(LustreError) in try Self.ostIndex(text) }
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                let mount = try LustreMounts.containing(path)
                var st = stat()
                guard stat(path, &st) == 0 else { throw LustreError.fromErrno("'\(path)'") }
                let isDirectory = st.st_mode & S_IFMT == S_IFDIR
                guard isDirectory || st.st_mode & S_IFMT == S_IFREG else {
                    throw LustreError(errno: ENODATA, "'\(path)' has no layout")
                }
                try show(path, isDirectory: isDirectory, mount: mount, marked: marked, failure: &failure)
            } catch {
                failure = fail("getstripe", error)
            }
        }
        if let failure { throw failure }
    }

    /// Prints `path`'s layout (a directory's default, then its files and, with -r, its
    /// subdirectories); a file that fails is reported and the walk goes on.
    private func show(_ path: String, isDirectory: Bool, mount: LustreMounts.Mount, marked: UInt32?, 
                      failure: inout ExitCode?) throws(LustreError) {
        let labelled = fields == .all && !quiet && !yaml && !mdtIndex && !fid
        if !isDirectory {
            try showFile(path, mount: mount, marked: marked, labelled: labelled)
            return
        }
        if marked == nil {
            if labelled { print(path) }
            print(try directoryText(path, mount: mount), terminator: "")
        }
        guard !directoryOnly else { return }
        for entry in DirectoryListing.entries(path) where entry.isRegular || (recursive && entry.isDirectory) {
            let child = path.hasSuffix("/") ? path + entry.name : path + "/" + entry.name
            do throws(LustreError) {
                try show(child, isDirectory: entry.isDirectory, mount: mount, marked: marked, failure: &failure)
            } catch {
                failure = fail("getstripe", error)
            }
        }
    }

    private func showFile(_ path: String, mount: LustreMounts.Mount, marked: UInt32?, labelled: Bool) throws(LustreError) {
        let layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
        if let marked, !layout.objects.contains(where: { $0.ostIndex == marked }) { return }
        if labelled && !yaml { print(path) }
        if mdtIndex {
            print(try Self.mdtIndex(of: mount))
        } else if fid && fields == .all && !verbose {
            print(try Xattr.getText(path, "lustre.fid"))
        } else {
            let style = LayoutText.Style(yaml: yaml, verbose: verbose, markedOST: marked)
            print(LayoutText.file(layout, fields: fields, style: style), terminator: "")
        }
    }

    /// The index of the MDT serving the mount (`lustre.statfs`'s MDT line): every file and
    /// directory of the filesystem is there.
    static func mdtIndex(of mount: LustreMounts.Mount) throws(LustreError) -> UInt32 {
        let targets = try Df.parse(try Xattr.getText(mount.mountpoint, "lustre.statfs"))
        guard let mdt = targets.first(where: { $0.kind == "MDT" }) else { throw LustreError(errno: ENODEV, "no MDT") }
        return mdt.index
    }

    /// The directory's default (or, for -m, the MDT index); without a default of its own, the
    /// filesystem's (the root's), which it inherits.
    private func directoryText(_ path: String, mount: LustreMounts.Mount) throws(LustreError) -> String {
        if mdtIndex { return "\(try Self.mdtIndex(of: mount))\n" }
        if fid && fields == .all { return try Xattr.getText(path, "lustre.fid") + "\n" }
        let fields = self.fields
        // What new files here get: this directory's default, else the filesystem's (the root's,
        // then the MGS's), field by field as the MDS fills them in (Lustre's sattr_cache defaults).
        var layout: LustreLayout
        do throws(LustreError) {
            layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
        } catch where error.errno == ENODATA {
            layout = LustreLayout(stripeSize: 0, stripeCount: 0)
        }
        var fallbacks: [String] = path == mount.mountpoint ? [] : [mount.mountpoint]
        fallbacks.append("")
        for source in fallbacks where layout.stripeSize == 0 || layout.stripeCount == 0 {
            let inherited = source.isEmpty
                ? try? LayoutText.decode(try Xattr.get(mount.mountpoint, "lustre.fsdefault"))
                : try? LayoutText.decode(try Xattr.get(source, "lustre.lov"))
            guard let inherited else { continue }
            if layout.stripeSize == 0 { layout.stripeSize = inherited.stripeSize }
            if layout.stripeCount == 0 { layout.stripeCount = inherited.stripeCount }
        }
        return LayoutText.directory(layout, fields: fields, yaml: yaml)
    }
}

/// Names in a directory (no `.`/`..`), with their `lstat`.
enum DirectoryListing {
    struct Entry {
        var name: String
        var status: stat
        var mode: UInt32 { status.st_mode }
        var isRegular: Bool { mode & S_IFMT == S_IFREG }
        var isDirectory: Bool { mode & S_IFMT == S_IFDIR }
    }

    static func entries(_ path: String) -> [Entry] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var result: [Entry] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var st = stat()
            let child = path.hasSuffix("/") ? path + name : path + "/" + name
            guard lstat(child, &st) == 0 else { continue }
            result.append(Entry(name: name, status: st))
        }
        return result.sorted { $0.name < $1.name }
    }
}
