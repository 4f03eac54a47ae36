import LustreTargetTools
import ArgumentParser
import Glibc
import LibCFS
import ObdClass

/// `mkfs.lustre`: formats a device, an image file or a directory on ext4 as a Lustre target,
/// with Lustre's options and output.
@main
struct MkfsLustre: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mkfs.lustre",
        abstract: "Format a device, image file or ext4 directory as a Lustre target.",
        discussion: """
            Target types: --ost (object storage, exclusive with --mdt and --mgs), --mdt (metadata), \
            --mgs (configuration server; may be combined with --mdt).  Give DEVICE (a block device or \
            image file) or --backfs-dir=DIR.
            """)

    @Flag(help: "Object storage target.") var ost = false
    @Flag(help: "Metadata target.") var mdt = false
    @Flag(help: "Configuration management service.") var mgs = false

    @Option(name: [.customLong("fsname"), .customShort("L")], help: "Filesystem name, 1-8 letters, digits or '_'.")
    var fsname = "lustre"
    @Option(name: [.customLong("index"), .customShort("i")], help: "Target index (OST or MDT index).")
    var index: String?
    @Option(name: [.customLong("mgsnode"), .customShort("m")],
            help: "NID(s) of the MGS: ',' between NIDs of a node, ':' between failover nodes; repeatable.")
    var mgsnode: [String] = []
    @Option(name: .customLong("failnode"), help: "NID(s) of a failover partner; repeatable.")
    var failnode: [String] = []
    @Option(name: .customLong("servicenode"), help: "NID(s) of every node that serves the target; repeatable.")
    var servicenode: [String] = []
    @Option(name: [.customLong("param"), .customShort("p")], help: "A permanent parameter KEY=VALUE; repeatable.")
    var param: [String] = []
    @Option(name: .customLong("comment"), help: "An arbitrary user string.")
    var comment: String?
    @Option(name: .customLong("mountfsoptions"), parsing: .unconditional, help: "Permanent mount options.")
    var mountfsoptions: String?
    @Option(name: .customLong("mkfsoptions"), parsing: .unconditional, help: "Options added to mke2fs's.")
    var mkfsoptions: String?
    @Option(name: .customLong("backfstype"), help: "Backing filesystem type (ldiskfs only).")
    var backfstype = "ldiskfs"
    @Option(name: .customLong("device-size"), help: "Size in KB of an image file to create.")
    var deviceSize: UInt64?
    @Option(name: .customLong("backfs-dir"), help: "Use this directory on ext4 instead of a device.")
    var backfsDir: String?
    @Flag(name: .customLong("force-backfs"), help: "Accept a --backfs-dir that is not on ext4.")
    var forceBackfs = false

    @Flag(name: [.customLong("reformat"), .customShort("r")], help: "Overwrite an existing target.")
    var reformat = false
    @Flag(name: [.customLong("dryrun"), .customShort("n")], help: "Report what would be done; write nothing.")
    var dryrun = false
    @Flag(name: [.customLong("verbose"), .customShort("v")], help: "Show mke2fs's output.")
    var verbose = false
    @Flag(name: [.customLong("quiet"), .customShort("q")], help: "Print less.")
    var quiet = false

    @Argument(help: "Block device or image file.")
    var device: String?

    static func main() { LustreTool.main(Self.self) }

    // MARK: Checking the command line

    /// Checks the options together.  Called from `run()` rather than as ArgumentParser's
    /// `validate()`, which runs before unknown options are reported and would hide them.
    func checkOptions() throws {
        guard ost || mdt || mgs else { throw ValidationError("must specify --ost, --mdt or --mgs") }
        if ost && (mdt || mgs) { throw ValidationError("--ost cannot be combined with --mdt or --mgs") }
        _ = try TargetLocation.named(device: device, backfsDir: backfsDir)
        if backfsDir != nil && deviceSize != nil { throw ValidationError("--device-size does not apply to --backfs-dir") }
        guard backfstype == "ldiskfs" || backfstype == "ext4" else {
            throw ValidationError("backing filesystem type '\(backfstype)' is not supported (only ldiskfs)")
        }
        if ost || mdt {
            do throws(LustreError) {
                _ = try TargetName(fsname: fsname, kind: .ost, index: 0)
            } catch {
                throw ValidationError(error.context)
            }
            guard let index else { throw ValidationError("the target index must be given with --index=N") }
            guard targetIndex(index) != nil else {
                throw ValidationError("invalid index '\(index)': expected 0 to \(MountData.unassignedIndex - 1)")
            }
            if !mgs && mgsnode.isEmpty { throw ValidationError("must specify --mgs or --mgsnode=NID") }
        } else if index != nil {
            throw ValidationError("--index applies to --ost and --mdt only")
        }
        for nids in mgsnode + failnode + servicenode {
            if let problem = LustreTool.checkNIDList(nids) { throw ValidationError(problem) }
        }
        if !failnode.isEmpty && !servicenode.isEmpty {
            throw ValidationError("--failnode and --servicenode cannot be combined")
        }
        for text in param {
            do throws(LustreError) { _ = try MountData.Parameter(parsing: text) } catch { throw ValidationError(error.context) }
        }
        if let deviceSize, deviceSize < BackingFormat.minimumKilobytes {
            throw ValidationError("size of filesystem must be larger than 8MB, but is set to \(deviceSize)KB")
        }
        do throws(LustreError) { try makeMountData().validate() } catch { throw ValidationError(error.context) }
    }

    /// Lustre accepts the index in decimal or 0x hex.
    private func targetIndex(_ text: String) -> UInt32? {
        let value = text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
        guard let value, value < MountData.unassignedIndex else { return nil }
        return value
    }

    // MARK: The target's identity

    /// The mountdata Lustre's mkfs writes for these options: the service types plus `first_time`
    /// and `update`, so the server registers with the MGS at its first start.
    func makeMountData() throws(LustreError) -> MountData {
        var data = MountData()
        data.mountType = .ldiskfs
        data.fsname = fsname
        data.flags = [.virgin, .update]
        if ost { data.flags.insert(.ost) }
        if mdt { data.flags.insert(.mdt) }
        if mgs { data.flags.insert(.mgs) }
        if !servicenode.isEmpty { data.flags.insert(.noPrimaryNode) }
        if ost || mdt {
            let index = index.flatMap(targetIndex) ?? 0
            data.index = index
            data.svname = try TargetName(fsname: fsname, kind: ost ? .ost : .mdt, index: index).description
        } else {
            data.svname = "MGS"
        }
        // Lustre's ldiskfs defaults: the MDT needs user xattrs for ACLs and layouts; any target
        // that hits an ext4 error must stop writing rather than spread the damage.
        data.mountOptions = mountfsoptions ?? (ost ? "errors=remount-ro" : "user_xattr,errors=remount-ro")
        for nids in mgsnode { try data.addParameter(.init(key: "mgsnode", value: nids)) }
        for nids in failnode + servicenode { try data.addParameter(.init(key: "failover.node", value: nids)) }
        for text in param { try data.addParameter(try .init(parsing: text)) }
        data.comment = comment ?? ""
        return data
    }

    // MARK: Formatting

    func run() throws {
        try checkOptions()
        let data = try makeMountData()
        if !quiet { print(data.report(heading: "Permanent disk data"), terminator: "") }
        if let backfsDir {
            try formatDirectory(backfsDir, data)
        } else if let device {
            try formatDevice(device, data)
        }
    }

    private func refuseExistingTarget(_ location: TargetLocation) throws {
        guard !reformat else { return }
        let existing = location.existingLustreData()
        print("checking for existing Lustre data: \(existing.summary)")
        if existing.isLustre {
            throw ToolFailure(status: EEXIST, "Device \(location) was previously formatted for lustre. "
                + "Use --reformat to reformat it, or tunefs.lustre to modify.")
        }
    }

    private func formatDevice(_ device: String, _ data: MountData) throws {
        var info = stat()
        let exists = stat(device, &info) == 0
        if exists {
            guard info.st_mode & S_IFMT == S_IFREG || info.st_mode & S_IFMT == S_IFBLK else {
                throw ToolFailure(status: EINVAL, "\(device) is neither a block device nor a regular file"
                    + (info.st_mode & S_IFMT == S_IFDIR ? " (use --backfs-dir for a directory)" : ""))
            }
            try refuseExistingTarget(.device(device))
        } else if deviceSize == nil {
            throw ToolFailure(status: ENOENT, "\(device) does not exist; give --device-size=KB to create an image file")
        }
        if dryrun {
            print("exiting before disk write.")
            return
        }
        if let deviceSize, !exists || info.st_mode & S_IFMT == S_IFREG {
            try BackingFormat.createImage(device, kilobytes: deviceSize)
        }
        let kilobytes = try BackingFormat.kilobytes(of: device)
        guard kilobytes >= BackingFormat.minimumKilobytes else {
            throw ToolFailure(status: EINVAL, "size of filesystem must be larger than 8MB, but \(device) is \(kilobytes)KB")
        }
        print("device size = \(kilobytes >> 10)MB")
        let format = BackingFormat(
            services: data.serviceTypes, label: data.svname, deviceKilobytes: kilobytes,
            userOptions: (mkfsoptions ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init))
        print(format.report(device: device), terminator: "")
        try format.run(device: device, verbose: verbose)
        print("Writing \(MountData.filePath)")
        do throws(LustreError) {
            try TargetLocation.device(device).write(data, label: data.svname)
        } catch {
            throw ToolFailure(status: error.errno, "writing \(MountData.filePath) on \(device): \(error)")
        }
    }

    private func formatDirectory(_ directory: String, _ data: MountData) throws {
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw ToolFailure(status: ENOTDIR, "--backfs-dir \(directory) is not an existing directory")
        }
        let type = try TargetLocation.filesystemType(of: directory)
        if type != TargetLocation.ext4Magic {
            guard forceBackfs else {
                throw ToolFailure(status: EINVAL, "\(directory) is not on ext4 (filesystem type 0x\(String(type, radix: 16))); "
                    + "the OSD relies on ext4's xattrs and directory scaling. Use --force-backfs to use it anyway.")
            }
            print("warning: \(directory) is not on ext4 (type 0x\(String(type, radix: 16))), as --force-backfs asked")
        }
        let location = TargetLocation.directory(directory)
        try refuseExistingTarget(location)
        if dryrun {
            print("exiting before disk write.")
            return
        }
        if reformat && location.existingLustreData().isLustre {
            // A directory is never wiped: it may hold anything; the server finds the old objects.
            print("reformatting \(directory): its contents are kept, only \(MountData.filePath) is rewritten")
        }
        print("formatting backing directory \(directory)\n\ttarget name   \(data.svname)")
        print("Writing \(MountData.filePath)")
        do throws(LustreError) {
            try location.write(data, label: data.svname)
        } catch {
            throw ToolFailure(status: error.errno, "writing \(MountData.filePath) in \(directory): \(error)")
        }
    }
}
