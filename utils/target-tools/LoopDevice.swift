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
        guard let device = try? DeviceNumber(ofFileSystemAt: mountPoint) else { return nil }
        let sysfs = "/sys/dev/block/" + device.sysfsName
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

    /// A sysfs attribute's text; nil if it cannot be read.
    private static func read(_ path: String) -> String? {
        (try? DurableFile.read(path, limit: 4096)).map { String(decoding: $0, as: UTF8.self) }
    }
}
