import ArgumentParser
import LibCFS

/// `lfs osts [PATH]` and `lfs mdts [PATH]`: the targets of each mount with their index and UUID,
/// `ACTIVE` when they answer (Lustre's `llapi_ostlist`).
enum TargetList {
    static func print(kind: String, heading: String, path: String?, command: String) throws {
        let mounts: [LustreMounts.Mount]
        do throws(LustreError) {
            mounts = try LustreMounts.selected(by: path)
        } catch {
            throw fail(command, error)
        }
        var failure: ExitCode?
        for mount in mounts {
            do throws(LustreError) {
                let targets = try Df.parse(try Xattr.getText(mount.mountpoint, "lustre.statfs"))
                Swift.print("\(heading):")
                for target in targets where target.kind == kind {
                    Swift.print("\(target.index): \(target.uuid) \(target.counts == nil ? "INACTIVE" : "ACTIVE")")
                }
            } catch {
                failure = fail(command, error.adding(context: mount.mountpoint))
            }
        }
        if let failure { throw failure }
    }
}

struct Osts: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "osts", abstract: "List the OSTs of Lustre mounts.")
    @Argument(help: "A path in the Lustre filesystem (default: every Lustre mount).") var path: String?
    func run() throws { try TargetList.print(kind: "OST", heading: "OBDS", path: path, command: "osts") }
}

struct Mdts: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mdts", abstract: "List the MDTs of Lustre mounts.")
    @Argument(help: "A path in the Lustre filesystem (default: every Lustre mount).") var path: String?
    func run() throws { try TargetList.print(kind: "MDT", heading: "MDTS", path: path, command: "mdts") }
}
