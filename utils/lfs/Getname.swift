import ArgumentParser
import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs getname [-n|-i] [PATH...]`: each client mount's name, `FSNAME-INSTANCE MOUNTPOINT`, as
/// the device names under `llite.` in `lctl get_param` show it.
struct Getname: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "getname", abstract: "Print the instance name of Lustre mounts.")

    @Flag(name: [.customShort("n"), .customLong("fsname")], help: "Only the filesystem name.") var fsnameOnly = false
    @Flag(name: [.customShort("i"), .customLong("instance")], help: "Only the instance.") var instanceOnly = false
    @Argument(help: "Paths in Lustre filesystems (default: every Lustre mount).") var paths: [String] = []

    func validate() throws {
        if fsnameOnly && instanceOnly { throw ValidationError("-n and -i exclude each other") }
    }

    func run() throws {
        var failure: ExitCode?
        let mounts: [(LustreMounts.Mount?, String)] = paths.isEmpty
            ? LustreMounts.all().map { ($0, $0.mountpoint) }
            : paths.map { path in ((try? LustreMounts.containing(path)), path) }
        for (mount, path) in mounts {
            do throws(LustreError) {
                guard let mount else { throw LustreError(errno: ENOTTY, "'\(path)' is not on a Lustre filesystem") }
                let name = try Xattr.getText(mount.mountpoint, "lustre.name")
                // The instance is what follows the filesystem name and its dash.
                let instance = name.hasPrefix(mount.fsname + "-") ? String(name.dropFirst(mount.fsname.count + 1)) : name
                let value = fsnameOnly ? mount.fsname : instanceOnly ? instance : name
                print("\(value) \(paths.isEmpty ? mount.mountpoint : path)")
            } catch {
                failure = fail("getname", error)
            }
        }
        if let failure { throw failure }
    }
}
