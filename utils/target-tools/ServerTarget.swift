#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LibCFS
import LustreCompat
import ObdClass

/// A target on its way to being served by `lustre-oss` or `lustre-mds`: its identity from
/// `CONFIGS/mountdata`, the directory its tree lives in (an image or device loop-mounted under
/// the run dir, or a directory target used as it is), and the locks that keep a second server
/// off it (the image's flock before mounting, `CONFIGS/mmp_lock` inside).
public final class ServerTarget {
    /// What kind of target a server accepts.
    public enum Role: Sendable {
        /// An OST (`lustre-oss`).
        case ost
        /// An MDT, possibly combined with the MGS (`lustre-mds`).
        case mdt

        var program: String { self == .ost ? "lustre-oss" : "lustre-mds" }
    }

    public let name: TargetName
    public let mountData: MountData
    /// The ext4 tree holding the target: the mount point, or the directory target itself.
    public let root: String
    /// Where this process mounted the target, to unmount it at exit.
    public private(set) var mountPoint: String?
    /// The lock in the target's tree (`CONFIGS/mmp_lock`), naming this process.
    private var targetLock: TargetLock?
    /// The lock on the image or device, taken before mounting it.
    private var imageLock: TargetLock?

    private init(name: TargetName, mountData: MountData, root: String, mountPoint: String?,
                 imageLock: TargetLock?, targetLock: TargetLock?) {
        self.name = name
        self.mountData = mountData
        self.root = root
        self.mountPoint = mountPoint
        self.imageLock = imageLock
        self.targetLock = targetLock
    }

    /// Finds out what `path` is and makes its tree reachable, locked for this process; refuses
    /// a target that is not of `role`.
    public static func prepare(_ path: String, runDir: String, role: Role) throws(LustreError) -> ServerTarget {
        var st = stat()
        guard stat(path, &st) == 0 else { throw LustreError.fromErrno("target \(path)") }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            let mountData = try readMountData(directory: path)
            let name = try targetName(mountData, path, role: role)
            let lock = try TargetLock.acquire(path + "/" + lockFile, target: "\(name)", create: true, recordOwner: true)
            return ServerTarget(name: name, mountData: mountData, root: path, mountPoint: nil, imageLock: nil, targetLock: lock)
        case S_IFREG, S_IFBLK:
            return try mount(path, isDevice: st.st_mode & S_IFMT == S_IFBLK, runDir: runDir, role: role)
        default:
            throw LustreError.invalid("target \(path) is neither an image, a block device nor a directory")
        }
    }

    /// Where the "served by" lock lives in a target (the MMP block's stand-in).
    public static let lockFile = "CONFIGS/mmp_lock"

    private static func mount(_ path: String, isDevice: Bool, runDir: String, role: Role) throws(LustreError)
        -> ServerTarget {
        guard geteuid() == 0 else {
            throw LustreError(errno: EPERM, "\(path) is an image or device, which \(role.program) must mount: that needs root "
                              + "(run as root, or serve a directory target made with mkfs.lustre --backfs-dir)")
        }
        // Read the identity without mounting, so the lock can name the target and the mount
        // point can carry its name.
        let volume: Ext2Volume
        do {
            volume = try Ext2Volume(path: path, writable: false)
        } catch {
            throw error.adding(context: "\(path): not an ext4 target made by mkfs.lustre")
        }
        let mountData: MountData
        do {
            mountData = try MountData(decoding: try volume.read(MountData.filePath))
        } catch {
            try? volume.close()
            throw error.adding(context: "\(path): no valid \(MountData.filePath) (format it with mkfs.lustre)")
        }
        try? volume.close()
        let name = try targetName(mountData, path, role: role)
        // The image itself is locked before mounting: two servers must never mount one volume.
        let imageLock = try TargetLock.acquire(path, target: "\(name)", create: false, recordOwner: false)
        let mountPoint = "\(runDir)/mnt/\(name)"
        try makeDirectories(mountPoint)
        if isMountPoint(mountPoint) {
            // A killed server leaves its mount behind; the image lock says nobody uses it now.
            LCONSOLE("\(name): reusing the mount left at \(mountPoint)")
        } else {
            var arguments = ["mount", "-t", "ext4"]
            var options = isDevice ? [] : ["loop"]
            options += mountOptions(mountData)
            if !options.isEmpty { arguments += ["-o", options.joined(separator: ",")] }
            arguments += [path, mountPoint]
            let status = try ExternalCommand.run(arguments)
            guard status == 0 else {
                throw LustreError(errno: EIO, "mount \(path) on \(mountPoint) failed (mount exit status \(status))")
            }
        }
        if !isDevice { useDirectIO(name, mountPoint) }
        let target = ServerTarget(name: name, mountData: mountData, root: mountPoint, mountPoint: mountPoint,
                               imageLock: imageLock, targetLock: nil)
        do {
            target.targetLock = try TargetLock.acquire(mountPoint + "/" + lockFile, target: "\(name)", create: true,
                                                       recordOwner: true)
        } catch {
            target.release()
            throw error
        }
        return target
    }

    /// An image is served through a loop device doing direct I/O to the image file when the
    /// kernel allows it (see `LoopDevice`); buffered otherwise, with a warning.
    private static func useDirectIO(_ name: TargetName, _ mountPoint: String) {
        guard let loop = LoopDevice(mountedOn: mountPoint) else {
            CWARN("\(name): no loop device found under \(mountPoint); its I/O stays as mount set it up")
            return
        }
        do {
            try loop.enableDirectIO()
            LCONSOLE("\(name): \(loop.path) serves \(loop.backingFile) with direct I/O")
        } catch {
            CWARN("\(name): \(loop.path) stays buffered (every block cached twice): \(error)")
        }
    }

    /// Unlocks the target and unmounts it if this process mounted it.
    public func release() {
        // The lock file inside the mount is open: close it first or umount says busy.
        targetLock?.release()
        targetLock = nil
        if let mountPoint {
            unmount(mountPoint)
            self.mountPoint = nil
        }
        imageLock?.release()
        imageLock = nil
    }

    /// Unmounts, waiting a little for files still being closed; as a last resort detaches the
    /// mount lazily, so the kernel finishes the unmount when this process exits.
    private func unmount(_ mountPoint: String) {
        for attempt in 0..<20 {
            do {
                if try ExternalCommand.run(["umount", mountPoint]) == 0 { return }
            } catch {
                CERROR("\(name): umount \(mountPoint): \(error)")
                return
            }
            if attempt == 0 { CDEBUG(.config, "\(name): \(mountPoint) busy; retrying") }
            usleep(100_000)
        }
        CWARN("\(name): \(mountPoint) still busy: detaching it (umount -l)")
        _ = try? ExternalCommand.run(["umount", "-l", mountPoint])
    }

    /// Whether `relative` exists in the target's tree (`O` for an OST's objects, `ROOT` for an
    /// MDT's namespace: absent on a target never served).
    public func contains(_ relative: String) -> Bool {
        var st = stat()
        return stat(root + "/" + relative, &st) == 0
    }

    private static func readMountData(directory: String) throws(LustreError) -> MountData {
        let path = directory + "/" + MountData.filePath
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw LustreError.fromErrno("\(path): not a Lustre target (format it with mkfs.lustre --backfs-dir=\(directory))")
        }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: MountData.size + 1)
        let count = read(fd, &bytes, bytes.count)
        guard count >= 0 else { throw LustreError.fromErrno("read \(path)") }
        do {
            return try MountData(decoding: bytes.prefix(count))
        } catch {
            throw error.adding(context: path)
        }
    }

    private static func targetName(_ mountData: MountData, _ path: String, role: Role) throws(LustreError) -> TargetName {
        let wanted: TargetName.Kind = role == .ost ? .ost : .mdt
        guard role == .ost ? mountData.isOST : mountData.isMDT else {
            throw LustreError.invalid("\(path) holds \(mountData.svname.isEmpty ? "no target" : mountData.svname), "
                                      + "not an \(wanted.rawValue): \(role.program) serves \(wanted.rawValue)s")
        }
        guard let name = mountData.targetName, name.kind == wanted else {
            throw LustreError.invalid("\(path): \(wanted.rawValue) without a usable name ('\(mountData.svname)')")
        }
        return name
    }

    /// ldd_mount_opts without the ldiskfs-only options that ext4 refuses.
    private static func mountOptions(_ mountData: MountData) -> [String] {
        let ldiskfsOnly: Set<Substring> = ["extents", "mballoc", "iopen", "iopen_nopriv", "noiopen", "asyncdel"]
        return mountData.mountOptions.split(separator: ",").filter { !ldiskfsOnly.contains($0) && !$0.isEmpty }
            .map(String.init)
    }

    private static func makeDirectories(_ path: String) throws(LustreError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST { throw LustreError.fromErrno("mkdir \(prefix)") }
        }
    }

    /// Whether something is mounted on `path` (from /proc/self/mountinfo, field 5).
    private static func isMountPoint(_ path: String) -> Bool {
        guard let file = fopen("/proc/self/mountinfo", "r") else { return false }
        defer { fclose(file) }
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let canonical = realpath(path, &resolved) != nil
            ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : path
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let fields = String(cString: line).split(separator: " ")
            if fields.count > 4, fields[4] == canonical { return true }
        }
        return false
    }
}
