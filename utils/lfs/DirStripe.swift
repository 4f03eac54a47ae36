import ArgumentParser
import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs mkdir [-i MDT] [-c COUNT] [-m MODE] DIR...` (also `lfs setdirstripe`): makes directories on
/// an MDT. This filesystem has one MDT, so a directory can only live there and be striped over
/// that one; any other index or count is refused as Lustre refuses an MDT it does not have.
struct Mkdir: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkdir", abstract: "Make directories on an MDT (the filesystem's one MDT here).",
        aliases: ["setdirstripe"])

    @Option(name: [.customShort("i"), .customLong("mdt-index"), .customLong("mdt")], parsing: .unconditional,
            help: "The MDT index (-1: any).")
    var mdtIndex: Int = -1
    @Option(name: [.customShort("c"), .customLong("mdt-count"), .customLong("count")], parsing: .unconditional,
            help: "Over how many MDTs to stripe it (0, 1 or -1 here).")
    var mdtCount: Int = 0
    @Option(name: [.customShort("m"), .customLong("mode")], help: "Octal permission bits (default 0777 less the umask).")
    var mode: String?
    @Argument(help: "Directories to make.") var paths: [String]

    func validate() throws {
        if let mode, UInt32(mode, radix: 8) == nil { throw ValidationError("bad mode '\(mode)'") }
    }

    func run() throws {
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                let mount = try LustreMounts.containing(path)
                let mdt = try Getstripe.mdtIndex(of: mount)
                if mdtIndex != -1 && mdtIndex != Int(mdt) {
                    throw LustreError(errno: ENODEV, "'\(path)': \(mount.fsname) has no MDT index \(mdtIndex)")
                }
                if mdtCount > 1 || mdtCount < -1 {
                    throw LustreError(errno: EINVAL, "'\(path)': \(mount.fsname) has 1 MDT, not \(mdtCount)")
                }
                let bits = mode.flatMap { UInt32($0, radix: 8) } ?? 0o777
                guard Glibc.mkdir(path, mode_t(bits)) == 0 else { throw LustreError.fromErrno("cannot create '\(path)'") }
                // An explicit mode is the mode, as Lustre's lfs mkdir sets it past the umask.
                if mode != nil, chmod(path, mode_t(bits)) != 0 { throw LustreError.fromErrno("chmod '\(path)'") }
            } catch {
                failure = fail("mkdir", error)
            }
        }
        if let failure { throw failure }
    }
}

/// `lfs getdirstripe [-i] [-c] [-H] DIR...`: how directories are striped over MDTs; on one MDT,
/// none is (`lmv_stripe_count: 0`), and the offset is the MDT holding it.
struct Getdirstripe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getdirstripe", abstract: "Print how directories are striped over MDTs.")

    @Flag(name: [.customShort("i"), .customLong("mdt-index")], help: "Only the MDT index.") var index = false
    @Flag(name: [.customShort("c"), .customLong("mdt-count")], help: "Only the stripe count.") var count = false
    @Flag(name: [.customShort("H"), .customLong("mdt-hash")], help: "Only the hash type.") var hash = false
    @Argument(help: "Directories.") var paths: [String]

    func run() throws {
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                let mount = try LustreMounts.containing(path)
                var st = stat()
                guard stat(path, &st) == 0 else { throw LustreError.fromErrno("'\(path)'") }
                guard st.st_mode & S_IFMT == S_IFDIR else { throw LustreError(errno: ENOTDIR, "'\(path)'") }
                let mdt = try Getstripe.mdtIndex(of: mount)
                var fields: [(String, String)] = []
                if count || !(index || hash) { fields.append(("lmv_stripe_count:", "0")) }
                if index || !(count || hash) { fields.append(("lmv_stripe_offset:", String(mdt))) }
                if hash || !(index || count) { fields.append(("lmv_hash_type:", "none")) }
                print(fields.count == 1 ? fields[0].1 : fields.map { "\($0.0) \($0.1)" }.joined(separator: " "))
            } catch {
                failure = fail("getdirstripe", error)
            }
        }
        if let failure { throw failure }
    }
}
