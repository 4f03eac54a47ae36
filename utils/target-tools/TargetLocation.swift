import ArgumentParser
// Shared by mkfs.lustre and tunefs.lustre (utils/tunefs.lustre holds a symlink to this file),
// as Lustre builds both tools from mkfs_lustre.c: both must find, read and write a target's
// identity the same way.

import Glibc
import LibCFS
import LustreCompat
import ObdClass

/// Where a target's backing filesystem is: an ext4 device or image file, edited through
/// libext2fs without mounting it; or a directory on an ext4 filesystem (development setups).
public enum TargetLocation: CustomStringConvertible {
    case device(String)
    case directory(String)

    /// `statfs` f_type of ext2/3/4 (`EXT4_SUPER_MAGIC`).
    public static let ext4Magic = 0xEF53
    /// The label file a directory target keeps in place of a volume label.
    public static let labelFile = "CONFIGS/label"

    /// The target a command line names: exactly one of DEVICE and `--backfs-dir=DIR`.
    public static func named(device: String?, backfsDir: String?) throws(ValidationError) -> TargetLocation {
        switch (device, backfsDir) {
        case (let device?, nil): return .device(device)
        case (nil, let directory?): return .directory(directory)
        case (nil, nil): throw ValidationError("no device given: specify DEVICE or --backfs-dir=DIR")
        case (.some, .some): throw ValidationError("give either DEVICE or --backfs-dir, not both")
        }
    }

    public var path: String {
        switch self {
        case .device(let path), .directory(let path): return path
        }
    }

    public var description: String { path }

    /// What an earlier format left behind.
    public enum ExistingData {
        /// Nothing Lustre: free to format.
        case none
        /// A Lustre file (`CONFIGS/mountdata`, `last_rcvd`) is present.
        case file(String)
        /// No Lustre files, but the volume label names a Lustre target.
        case label(String)

        public var isLustre: Bool {
            if case .none = self { return false }
            return true
        }

        /// What `checking for existing Lustre data:` is followed by.
        public var summary: String {
            switch self {
            case .none: return "not found"
            case .file(let name): return "found \(name)"
            case .label(let label): return "found label \(label)"
            }
        }
    }

    /// Looks for an earlier Lustre target at this location without changing anything.  A
    /// device that is not an ext2/3/4 filesystem at all holds no Lustre data.
    public func existingLustreData() -> ExistingData {
        let lustreFiles = [MountData.filePath, "last_rcvd"]
        switch self {
        case .device(let path):
            guard access(path, F_OK) == 0, let volume = try? Ext2Volume(path: path) else { return .none }
            defer { try? volume.close() }
            for name in lustreFiles where (try? volume.exists(name)) == true { return .file(name) }
            let label = volume.label
            if Self.isLustreLabel(label) { return .label(label) }
            return .none
        case .directory(let path):
            for name in lustreFiles where access(path + "/" + name, F_OK) == 0 { return .file(name) }
            return .none
        }
    }

    /// Whether `label` is what mkfs.lustre names a volume: `MGS`, `FSNAME-OSTxxxx`,
    /// `FSNAME-MDTxxxx` (or Lustre's unregistered spelling with ':').
    public static func isLustreLabel(_ label: String) -> Bool {
        if label == "MGS" { return true }
        return (try? TargetName(parsing: String(label.map { $0 == ":" ? "-" : $0 }))) != nil
    }

    /// Reads and decodes `CONFIGS/mountdata`.
    public func readMountData() throws(LustreError) -> MountData {
        let bytes: [UInt8]
        switch self {
        case .device(let path):
            let volume = try Ext2Volume(path: path)
            defer { try? volume.close() }
            bytes = try volume.read(MountData.filePath)
        case .directory(let path):
            bytes = try Self.readFile(path + "/" + MountData.filePath)
        }
        do {
            return try MountData(decoding: bytes)
        } catch {
            throw error.adding(context: "\(path): \(MountData.filePath)")
        }
    }

    /// Writes `CONFIGS/mountdata` and, when given, the label (the volume label of a device, the
    /// `CONFIGS/label` file of a directory).  A mounted device is refused (EBUSY): writing under
    /// the kernel's feet would corrupt it.
    public func write(_ data: MountData, label: String?) throws(LustreError) {
        let bytes = try data.encode()
        switch self {
        case .device(let path):
            let volume = try Ext2Volume(path: path, writable: true)
            if let label { try volume.setLabel(label) }
            try volume.mkdir(MountData.configsDirectory)
            try volume.write(MountData.filePath, bytes)
            try volume.close()
        case .directory(let path):
            let configs = path + "/" + MountData.configsDirectory
            if mkdir(configs, 0o755) != 0 && errno != EEXIST { throw .fromErrno("mkdir \(configs)") }
            try DurableFile.replace(path + "/" + MountData.filePath, with: bytes, syncDirectory: false)
            if let label {
                try DurableFile.replace(path + "/" + Self.labelFile, with: Array((label + "\n").utf8), syncDirectory: false)
            }
            try DurableFile.syncDirectory(of: configs)
        }
    }

    /// The filesystem type of `path` as `statfs` reports it (`f_type`).
    public static func filesystemType(of path: String) throws(LustreError) -> Int {
        // Glibc's Swift module leaves out <sys/vfs.h>, so statfs is looked up by name.  On Linux
        // `struct statfs` starts with `f_type` as a C long; 512 bytes cover the whole struct.
        typealias StatFS = @convention(c) (UnsafePointer<CChar>, UnsafeMutableRawPointer) -> Int32
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "statfs") else {
            throw LustreError(errno: ENOSYS, "statfs \(path): not found in the C library")
        }
        let statfs = unsafeBitCast(symbol, to: StatFS.self)
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        guard statfs(path, buffer) == 0 else { throw .fromErrno("statfs \(path)") }
        return buffer.load(as: Int.self)
    }

    // MARK: Plain files, for directory targets

    /// mountdata is 12 KiB; anything far larger is not one and must not fill memory.
    private static func readFile(_ path: String) throws(LustreError) -> [UInt8] {
        try DurableFile.read(path, limit: 1 << 20)
    }
}
