import LibCFS
import LustreCompat

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// Kernel read-ahead of the mount: FUSE's bdi starts at 128 KiB whatever `max_readahead` says;
/// 1 MiB (one stripe, one RPC) gave +50–80% streaming reads (PLATFORM-NOTES, pitfall 5), and
/// 8 MiB (several 1 MiB FUSE reads in flight; one 4 MiB RPC per stripe of a 2-stripe file) another
/// +30–100% on cold streaming reads over 1 MiB (docs/performance.md, Client).
enum ReadAheadTuning {
    static let readAheadKB = 8192

    static func apply(mountpoint: String) {
        let path: String
        do {
            path = try FuseLowLevelSession.backingDeviceInfo(of: mountpoint) + "/read_ahead_kb"
        } catch {
            CWARN("mount.lustre: read-ahead left at the kernel default: \(error)")
            return
        }
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else {
            CWARN("mount.lustre: read-ahead left at the kernel default: open \(path): \(String(cString: strerror(errno)))")
            return
        }
        defer { close(fd) }
        let text = Array("\(readAheadKB)\n".utf8)
        if write(fd, text, text.count) != text.count {
            CWARN("mount.lustre: read-ahead left at the kernel default: write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
