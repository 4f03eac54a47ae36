import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs getstripe [-c] [-S] [-i] [-d] PATH...`: layouts as Lustre prints them.
struct Getstripe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getstripe",
        abstract: "Print the layout of files, or the default layout of directories.")

    @Flag(name: [.customShort("c"), .customLong("stripe-count")], help: "Only the stripe count.") var count = false
    @Flag(name: [.customShort("S"), .customLong("stripe-size")], help: "Only the stripe size.") var size = false
    @Flag(name: [.customShort("i"), .customLong("stripe-index")], help: "Only the first OST's index.") var index = false
    @Flag(name: [.customShort("d"), .customLong("directory")], help: "A directory's own default, not its files.")
    var directoryOnly = false
    @Flag(name: [.customShort("q"), .customLong("quiet")], help: "Do not print the path.") var quiet = false
    @Argument(help: "Files or directories.") var paths: [String]

    func run() throws {
        var fields: LayoutText.Fields = []
        if count { fields.insert(.count) }
        if size { fields.insert(.size) }
        if index { fields.insert(.offset) }
        if fields.isEmpty { fields = .all }
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                try show(path, fields: fields)
            } catch {
                failure = fail("getstripe", error)
            }
        }
        if let failure { throw failure }
    }

    private func show(_ path: String, fields: LayoutText.Fields) throws(LustreError) {
        let mount = try LustreMounts.containing(path)
        var st = stat()
        guard stat(path, &st) == 0 else { throw LustreError.fromErrno("'\(path)'") }
        let verbose = fields == .all && !quiet
        if st.st_mode & S_IFMT == S_IFDIR {
            if verbose { print(path) }
            print(try directoryDefault(path, mount: mount), terminator: "")
            guard !directoryOnly else { return }
            // Then the files in it, as Lustre does.
            for entry in DirectoryListing.entries(path) where entry.isRegular {
                let child = path.hasSuffix("/") ? path + entry.name : path + "/" + entry.name
                if verbose { print(child) }
                print(LayoutText.file(try LayoutText.decode(try Xattr.get(child, "lustre.lov")), fields: fields), terminator: "")
            }
            return
        }
        guard st.st_mode & S_IFMT == S_IFREG else { throw LustreError(errno: ENODATA, "'\(path)' has no layout") }
        let layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
        if verbose { print(path) }
        print(LayoutText.file(layout, fields: fields), terminator: "")
    }

    /// The directory's default; without one, the filesystem's (the root's), which it inherits.
    private func directoryDefault(_ path: String, mount: LustreMounts.Mount) throws(LustreError) -> String {
        let fields: LayoutText.Fields = {
            var f: LayoutText.Fields = []
            if count { f.insert(.count) }
            if size { f.insert(.size) }
            if index { f.insert(.offset) }
            return f.isEmpty ? .all : f
        }()
        do throws(LustreError) {
            var layout = try LayoutText.decode(try Xattr.get(path, "lustre.lov"))
            // Size 0 means "inherited": show what new files get, the filesystem's (root's) size.
            if layout.stripeSize == 0, path != mount.mountpoint,
               let root = try? LayoutText.decode(try Xattr.get(mount.mountpoint, "lustre.lov")) {
                layout.stripeSize = root.stripeSize
            }
            return LayoutText.directory(layout, fields: fields)
        } catch where error.errno == ENODATA {
            do throws(LustreError) {
                return LayoutText.directory(try LayoutText.decode(try Xattr.get(mount.mountpoint, "lustre.lov")), fields: fields)
            } catch where error.errno == ENODATA {
                return LayoutText.directory(LustreLayout(stripeSize: 0, stripeCount: 0), fields: fields)
            }
        }
    }
}

/// Names in a directory (no `.`/`..`), with their type from `lstat`.
enum DirectoryListing {
    struct Entry {
        var name: String
        var mode: UInt32
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
            result.append(Entry(name: name, mode: st.st_mode))
        }
        return result.sorted { $0.name < $1.name }
    }
}
