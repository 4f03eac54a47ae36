#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS

/// A device number (`dev_t`) split into major and minor as glibc's `major()`/`minor()` do
/// (macros Swift does not import).
public struct DeviceNumber: Hashable, Sendable {
    public var major: UInt64
    public var minor: UInt64

    public init(_ dev: UInt64) {
        major = (dev >> 8) & 0xfff | (dev >> 32) & ~0xfff
        minor = dev & 0xff | (dev >> 12) & ~0xff
    }

    /// The device of the filesystem `path` lives on (`st_dev`).
    public init(ofFileSystemAt path: String) throws(LustreError) {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LustreError.fromErrno("stat \(path)") }
        self.init(UInt64(st.st_dev))
    }

    /// `MAJ:MIN`, as `/sys/dev/block/` and `/sys/class/bdi/` name devices.
    public var sysfsName: String { "\(major):\(minor)" }
}
