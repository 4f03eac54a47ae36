#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS
import LustreCompat

/// The loop device under a target mounted from an image file (`mount -o loop`), found through
/// sysfs from the mount point's device number.
///
/// A buffered loop device keeps every block of the target twice in the page cache — once for
/// the target's ext4, once for the image file on the host filesystem — and copies each block
/// between the two in a kernel worker. With direct I/O (`LOOP_SET_DIRECT_IO`, what
/// `losetup --direct-io=on` sets) the loop device reads and writes the image file straight, as
/// a disk would be read and written: the servers' own page cache is the only one.
struct LoopDevice {
    /// `/dev/loopN`.
    let path: String
    /// `/sys/dev/block/MAJOR:MINOR`.
    private let sysfs: String

    /// The loop device `mountPoint` is mounted from, or nil when it is not a loop device.
    init?(mountedOn mountPoint: String) {
        var st = stat()
        guard stat(mountPoint, &st) == 0 else { return nil }
        // glibc's major()/minor() layout of dev_t.
        let dev = UInt64(st.st_dev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        let sysfs = "/sys/dev/block/\(major):\(minor)"
        guard access(sysfs + "/loop", F_OK) == 0,
              let uevent = Self.read(sysfs + "/uevent"),
              let name = uevent.split(separator: "\n").first(where: { $0.hasPrefix("DEVNAME=") })?.dropFirst(8)
        else { return nil }
        self.path = "/dev/\(name)"
        self.sysfs = sysfs
    }

    /// Whether the device does direct I/O to its image file now.
    var directIO: Bool { Self.read(sysfs + "/loop/dio")?.hasPrefix("1") ?? false }

    /// The image file behind the device.
    var backingFile: String { Self.read(sysfs + "/loop/backing_file").map { String($0.dropLast()) } ?? "?" }

    /// Switches the device to direct I/O. The kernel refuses when the image's filesystem cannot
    /// do O_DIRECT (tmpfs) or its block size is larger than the loop device's: the device then
    /// stays buffered, which works, only slower; the caller says so.
    func enableDirectIO() throws(LustreError) {
        if directIO { return }
        let result = try ExternalCommand.output(["losetup", "--direct-io=on", path], includingStandardError: true)
        guard result.status == 0, directIO else {
            let said = result.output.split(separator: "\n").last.map { ": \($0)" } ?? ""
            throw LustreError(errno: EOPNOTSUPP, "losetup --direct-io=on \(path) exit status \(result.status)\(said)")
        }
    }

    private static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = Glibc.read(fd, &bytes, bytes.count)
        guard count >= 0 else { return nil }
        return String(decoding: bytes.prefix(count), as: UTF8.self)
    }
}
