import LustreTargetTools
import LustreCompat
import Glibc
import LibCFS
import ObdClass

/// How mkfs.lustre formats the ldiskfs (ext4) backing filesystem of a device or image: the
/// mke2fs options that suit the target's kind, and running mke2fs.
struct BackingFormat {
    /// mke2fs from e2fsprogs; an absolute path so a stray `mke2fs` on PATH is never run as root.
    static let mke2fs = "/sbin/mke2fs"
    /// ldiskfs uses 4 KiB blocks (`L_BLOCK_SIZE`).
    static let blockSize = 4096
    /// Lustre refuses devices under about 8 MB: the journal alone needs most of that.
    static let minimumKilobytes: UInt64 = 8096

    var services: MountData.Flags
    var label: String
    var deviceKilobytes: UInt64
    /// `--mkfsoptions`, split on white space; they come last, so mke2fs lets them override ours.
    var userOptions: [String]

    /// The options mkfs.lustre chooses, before the user's: what its "options" line prints.
    var options: [String] {
        var options = ["-t", "ext4"]
        let userSets = { (flag: String) in userOptions.contains { $0.hasPrefix(flag) } }
        if services.contains(.ost) && !services.contains(.mdt) {
            // Data lives in a few large objects: few inodes, big files, no online resize inode.
            options += ["-O", "extents,flex_bg,large_file,huge_file,dir_nlink,extra_isize,^resize_inode"]
            if !userSets("-I") { options += ["-I", "512"] }
        } else {
            // An MDT is all inodes: many of them, each large enough to keep layout, link and
            // LMA xattrs inside it; directories may grow past 2 levels of htree.
            options += ["-O", "dir_index,extents,large_dir,ea_inode,dir_nlink,extra_isize,huge_file,flex_bg,^resize_inode"]
            if !userSets("-I") { options += ["-I", "1024"] }
        }
        if !userSets("-i") && !userSets("-N") { options += ["-i", String(bytesPerInode)] }
        // Initialise inode tables and journal now, not in the background after the first mount,
        // where they would compete with the target's first I/O.
        options += ["-E", "lazy_itable_init=0,lazy_journal_init=0", "-q", "-F"]
        return options + userOptions
    }

    /// Bytes of disk per inode.  OSTs scale it with size the way Lustre's mkfs does (1 MiB per
    /// inode on large OSTs, where objects are big), denser on small ones so test images do not run
    /// out of inodes; MDTs and MGSs keep one inode per 4 KiB.
    var bytesPerInode: Int {
        guard services.contains(.ost) && !services.contains(.mdt) else { return 4096 }
        let gib: UInt64 = 1 << 20
        switch deviceKilobytes {
        case (5 * 1024 * gib)...: return 1 << 20
        case (512 * gib)...: return 512 << 10
        case (128 * gib)...: return 256 << 10
        case (32 * gib)...: return 128 << 10
        case (8 * gib)...: return 64 << 10
        default: return 16 << 10
        }
    }

    /// The full command line.
    func command(device: String) -> [String] {
        [Self.mke2fs, "-b", String(Self.blockSize), "-L", label] + options + [device]
    }

    /// What Lustre's mkfs prints before formatting.
    func report(device: String) -> String {
        """
        formatting backing filesystem ldiskfs on \(device)
        \ttarget name   \(label)
        \tkilobytes     \(deviceKilobytes)
        \toptions        \(options.joined(separator: " "))
        mkfs_cmd = \(command(device: device).joined(separator: " "))

        """
    }

    /// Runs mke2fs; its output is shown only if it fails (or with `verbose`).
    func run(device: String, verbose: Bool) throws(ToolFailure) {
        let arguments = command(device: device)
        let ran: (status: Int32, output: String)
        do {
            ran = try ExternalCommand.output(arguments, includingStandardError: true)
        } catch {
            throw ToolFailure(status: ENOENT, "cannot run \(Self.mke2fs): \(error)")
        }
        let (status, output) = ran
        if verbose || status != 0 {
            for line in output.split(separator: "\n", omittingEmptySubsequences: false).dropLast(output.hasSuffix("\n") ? 1 : 0) {
                print("   \(line)")
            }
        }
        guard status == 0 else {
            throw ToolFailure(status: EIO, "Unable to build fs \(device): mke2fs exited with status \(status)")
        }
    }

    /// The size of a device or image file in KiB.
    static func kilobytes(of path: String) throws(LustreError) -> UInt64 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open \(path)") }
        defer { close(fd) }
        // lseek to the end answers for block devices as well as files.
        let end = lseek(fd, 0, SEEK_END)
        guard end >= 0 else { throw .fromErrno("size of \(path)") }
        return UInt64(end) >> 10
    }

    /// Creates (or resizes) image file `path` to `kilobytes`, sparse, as Lustre's `loop_format`.
    static func createImage(_ path: String, kilobytes: UInt64) throws(LustreError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .fromErrno("create \(path)") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(kilobytes * 1024)) == 0 else { throw .fromErrno("size \(path) to \(kilobytes) KB") }
    }
}
