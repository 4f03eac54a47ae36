import LibCFS
import LLite
import ObdClass

/// The extended attributes mount.lustre answers itself: how `lfs` talks to the mount (as Lustre's
/// lfs uses xattrs and ioctls). Formats are documented in utils/lfs/README.md.
enum VirtualXattr {
    /// A file's layout (`lov_mds_md_v1` bytes) or a directory's default; setting it on a
    /// directory sets the default.
    static let layout = "lustre.lov"
    /// Lustre's older name for the same.
    static let trustedLayout = "trusted.lov"

    /// Whether `name` is the layout under either name.
    static func isLayout(_ name: String) -> Bool { name == layout || name == trustedLayout }
    /// The FID as text, `[0x200000400:0x1:0x0]` (`lfs path2fid`).
    static let fid = "lustre.fid"
    /// On the mount root: one line per MDT and OST with its statfs (`lfs df`).
    static let statfs = "lustre.statfs"
    /// On the mount root: every import pinged, one line each, `DEVICE KIND ERRNO` (0: it answered)
    /// (`lfs check`).
    static let check = "lustre.check"
    /// On the mount root: the client's name, `FSNAME-INSTANCE` (`lfs getname`).
    static let name = "lustre.name"
    /// On the mount root: the filesystem's default layout (header only), what files get where no
    /// directory has a default (`lfs getstripe -d`).
    static let filesystemDefault = "lustre.fsdefault"
    /// On the mount root, `lustre.fid2path.[FID]`: the path of that FID below the root (`lfs fid2path`).
    static let fid2pathPrefix = "lustre.fid2path."
    /// On a directory, `lustre.setstripe.NAME` set to a layout: creates the empty file NAME with
    /// that layout (`lfs setstripe FILE`).
    static let setstripePrefix = "lustre.setstripe."
    /// File capabilities (`setcap`): not kept, as Lustre's client ignores them (b15587); a get is
    /// ENODATA without an MDS round trip (the kernel asks before every write), a set EOPNOTSUPP.
    static let fileCapabilities = "security.capability"

    /// The `lustre.check` text.
    static func checkText(_ checks: [LustreClient.TargetCheck]) -> String {
        checks.map { "\($0.device) \($0.kind) \($0.error?.errno ?? 0)\n" }.joined()
    }

    /// Whether `name` is answered by mount.lustre and may not be set or removed.
    static func isReadOnly(_ name: String) -> Bool {
        name == fid || name == statfs || name == check || name == Self.name || name == filesystemDefault
            || name.hasPrefix(fid2pathPrefix)
    }

    /// The `lustre.statfs` text: `UUID KIND INDEX BSIZE BLOCKS BFREE BAVAIL FILES FFREE`, or
    /// `UUID KIND INDEX unavailable`, one line per target, MDTs first.
    static func statfsText(_ targets: [(name: TargetName, statfs: ObdStatfs?)]) -> String {
        var text = ""
        for (name, statfs) in targets {
            text += "\(name.uuid) \(name.kind.rawValue) \(name.index)"
            if let s = statfs {
                text += " \(s.blockSize) \(s.blocks) \(s.blocksFree) \(s.blocksAvailable) \(s.files) \(s.filesFree)\n"
            } else {
                text += " unavailable\n"
            }
        }
        return text
    }
}
