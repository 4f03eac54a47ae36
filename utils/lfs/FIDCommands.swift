import ArgumentParser
import LibCFS
import ObdClass

/// `lfs path2fid PATH...`: each path's FID, `[0x200000400:0x1:0x0]`.
struct Path2FID: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "path2fid", abstract: "Print the FID of files.")

    @Argument(help: "Files or directories in a Lustre filesystem.") var paths: [String]

    func run() throws {
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                _ = try LustreMounts.containing(path)
                let fid = try Xattr.getText(path, "lustre.fid")
                print(paths.count > 1 ? "\(path): \(fid)" : fid)
            } catch {
                failure = fail("path2fid", error.adding(context: "cannot get FID for '\(path)'"))
            }
        }
        if let failure { throw failure }
    }
}

/// `lfs fid2path MOUNT|FSNAME FID...`: the path of each FID, below the mount point.
struct FID2Path: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fid2path", abstract: "Print the path of FIDs.")

    @Argument(help: "The mount point (or the filesystem name).") var mount: String
    @Argument(help: "FIDs, [0x200000400:0x1:0x0].") var fids: [String]

    func run() throws {
        let root: LustreMounts.Mount
        do throws(LustreError) {
            if let byName = LustreMounts.all().first(where: { $0.fsname == mount }) {
                root = byName
            } else {
                root = try LustreMounts.containing(mount)
            }
        } catch {
            throw fail("fid2path", error)
        }
        var failure: ExitCode?
        for text in fids {
            do throws(LustreError) {
                let fid = try LustreFID(parsing: text)
                let relative = try Xattr.getText(root.mountpoint, "lustre.fid2path.\(fid)")
                let path = relative.isEmpty ? root.mountpoint
                    : (root.mountpoint.hasSuffix("/") ? root.mountpoint : root.mountpoint + "/") + relative
                print(fids.count > 1 ? "\(fid): \(path)" : path)
            } catch {
                failure = fail("fid2path", error.adding(context: "cannot find \(text)"))
            }
        }
        if let failure { throw failure }
    }
}
