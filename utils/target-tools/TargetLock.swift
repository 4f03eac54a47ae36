#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS
import LustreCompat

/// An exclusive lock that says "this process serves the target", as ext4's MMP keeps a second
/// node from mounting an ldiskfs target: `flock` on a file, released by the kernel when the
/// process dies however it dies, so a SIGKILLed server never leaves a stale lock behind.
public final class TargetLock {
    private var fd: Int32

    private init(fd: Int32) { self.fd = fd }

    deinit { release() }

    /// Locks `path` (created if missing when `create`) and, when `recordOwner`, writes
    /// "pid host" in it for whoever finds it taken. EBUSY naming the holder if it is taken.
    public static func acquire(_ path: String, target: String, create: Bool, recordOwner: Bool) throws(LustreError) -> TargetLock {
        let fd = open(path, (recordOwner ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0), 0o644)
        guard fd >= 0 else { throw LustreError.fromErrno("open \(path)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = (recordOwner ? recordedOwner(fd) : nil) ?? lockHolder(of: fd)
            close(fd)
            guard error == EWOULDBLOCK else { throw LustreError(errno: error, "lock \(path)") }
            throw LustreError(errno: EBUSY, "target \(target) is already served by "
                              + (holder.map { "pid \($0)" } ?? "another process"))
        }
        if recordOwner {
            var host = [CChar](repeating: 0, count: 256)
            gethostname(&host, host.count - 1)
            let hostName = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let line = "\(getpid()) \(hostName)\n"
            ftruncate(fd, 0)
            _ = line.withCString { pwrite(fd, $0, strlen($0), 0) }
        }
        return TargetLock(fd: fd)
    }

    /// Unlocks (idempotent).
    public func release() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
    }

    /// The pid written in the lock file by its holder.
    private static func recordedOwner(_ fd: Int32) -> pid_t? {
        var bytes = [UInt8](repeating: 0, count: 64)
        let count = pread(fd, &bytes, bytes.count, 0)
        guard count > 0 else { return nil }
        let text = String(decoding: bytes.prefix(count), as: UTF8.self)
        return text.split(separator: " ").first.flatMap { pid_t($0.trimmingCharacters(in: "\n")) }
    }

    /// The holder of a flock on the file behind `fd`, from `/proc/locks`
    /// ("1: FLOCK  ADVISORY  WRITE 4242 fd:01:123456 0 EOF"): for files whose holder wrote nothing.
    private static func lockHolder(of fd: Int32) -> pid_t? {
        var st = stat()
        guard fstat(fd, &st) == 0, let file = fopen("/proc/locks", "r") else { return nil }
        defer { fclose(file) }
        let device = DeviceNumber(UInt64(st.st_dev))
        func hex2(_ value: UInt64) -> String {
            let text = String(value, radix: 16)
            return text.count < 2 ? "0" + text : text
        }
        let wanted = "\(hex2(device.major)):\(hex2(device.minor)):\(st.st_ino)"
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count >= 6, fields[1] == "FLOCK", fields[5] == wanted { return pid_t(fields[4]) }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> Substring {
        var text = self
        while let last = text.last, set.contains(last) { text.removeLast() }
        return text
    }
}
