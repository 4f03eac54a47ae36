import Glibc
import LibCFS

/// The `fuse` module's `enable_uring` parameter: the kernel offers FUSE over io_uring (Linux
/// 6.14) only while it is on, and it is off by default. Root turns it on for this mount: it only
/// lets a FUSE server that asks for io_uring at INIT use it, so other filesystems are unchanged.
enum FuseURingParameter {
    static let path = "/sys/module/fuse/parameters/enable_uring"

    /// Whether the kernel will offer FUSE over io_uring: the parameter is on, or was turned on
    /// here (as root). False on kernels without it.
    static func enable() -> Bool {
        guard let value = read() else {
            CDEBUG(.info, "mount.lustre: no \(path): this kernel has no FUSE over io_uring")
            return false
        }
        if value == "Y" || value == "1" { return true }
        guard geteuid() == 0 else {
            CDEBUG(.info, "mount.lustre: \(path) is \(value): requests go through /dev/fuse")
            return false
        }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard write(fd, "Y", 1) == 1 else {
            CWARN("mount.lustre: cannot turn on FUSE over io_uring (\(path)): errno \(errno)")
            return false
        }
        LCONSOLE("mount.lustre: turned on FUSE over io_uring (\(path)=Y)")
        return true
    }

    private static func read() -> String? {
        (try? DurableFile.readIfPresent(path, limit: 64)).flatMap { $0 }
            .map { String(decoding: $0.filter { $0 > 0x20 }, as: UTF8.self) }
    }
}
