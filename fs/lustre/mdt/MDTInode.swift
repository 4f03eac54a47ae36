import Glibc
import LibCFS
import ObdClass
import Synchronization

/// An `O_PATH` descriptor of one MDT inode (file, directory, symlink or node), closed when the
/// last holder lets go, so the object index can drop it from its cache while an operation still
/// uses it.
///
/// It also keeps the values of the MDT's own xattrs that hot paths read (size on MDS, layout,
/// names): every change to them goes through `MDTTree` in this one process, which stores the
/// new value here after writing it, so a remembered value is the one on disk. Only the inode the
/// object index holds for its FID keeps values (`MDTObjectIndex` calls `stopCaching` on any it
/// lets go): `MDTTree.apply` finds inodes through the index, so a copy that operations still
/// hold reads the disk instead of a value a later change went around.
final class MDTInode: Sendable {
    let fd: Int32
    let fid: LustreFID
    /// The `S_IFMT` bits of the inode.
    let type: UInt32
    /// Whether `fd` is an `O_PATH` descriptor, which the f*xattr calls refuse: then xattrs go
    /// through `path` (a procfs path walk each). Directories and regular files are held open
    /// `O_RDONLY` (or as created, `O_WRONLY`) where the MDT can, so their xattrs cost no walk.
    let isPathOnly: Bool
    /// The inode number once known (0 before), for `MDTObjectIndex`'s lookup by inode number.
    let inodeNumber = Atomic<UInt64>(0)
    private let remembered = Mutex(MDTInodeXattrs())

    /// `pathOnly`: whether `fd` was opened `O_PATH`, when the caller knows (else asked of it).
    init(fd: Int32, fid: LustreFID, type: UInt32, pathOnly: Bool? = nil) {
        self.fd = fd
        self.fid = fid
        self.type = type
        isPathOnly = pathOnly ?? (fcntl(fd, F_GETFL) & O_PATH != 0)
    }

    deinit { Glibc.close(fd) }

    var isDirectory: Bool { type == UInt32(S_IFDIR) }
    var isRegular: Bool { type == UInt32(S_IFREG) }
    var isSymlink: Bool { type == UInt32(S_IFLNK) }
    /// Where path-taking calls (xattrs, chmod, utimensat) reach this inode.
    var path: String { MDTSyscalls.procPath(fd) }

    /// Reads xattr `name` (`ENODATA` when absent).
    func getxattr(_ name: String) -> Result<[UInt8], LustreError> {
        isPathOnly ? MDTSyscalls.getxattr(path, name) : MDTSyscalls.fgetxattr(fd, name)
    }

    /// Sets xattr `name` (nil: removes it); 0 or the errno.
    func setxattr(_ name: String, _ value: [UInt8]?) -> Int32 {
        guard let value else { return isPathOnly ? MDTSyscalls.removexattr(path, name) : MDTSyscalls.fremovexattr(fd, name) }
        return isPathOnly ? MDTSyscalls.setxattr(path, name, value) : MDTSyscalls.fsetxattr(fd, name, value)
    }

    /// Changes the permission bits; 0 or the errno.
    func chmod(_ mode: UInt32) -> Int32 {
        (isPathOnly ? Glibc.chmod(path, mode) : Glibc.fchmod(fd, mode)) == 0 ? 0 : errno
    }

    /// Sets access and modification times (`UTIME_OMIT` leaves one); 0 or the errno.
    func setTimes(_ specs: [timespec]) -> Int32 {
        let rc = isPathOnly ? utimensat(AT_FDCWD, path, specs, 0) : futimens(fd, specs)
        return rc == 0 ? 0 : errno
    }

    func stat() throws(LustreError) -> Glibc.stat {
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("fstat \(fid)") }
        return st
    }

    // MARK: remembered xattrs

    /// The MDT xattrs kept in memory.
    enum CachedXattr: Int, CaseIterable { case sizeOnMDS = 0, layout = 1, links = 2, selinuxLabel = 3 }

    /// The remembered value of `slot`: `.some(nil)` is "known absent", nil "not known", with the
    /// generation to hand to `fill` after reading the disk.
    func cached(_ slot: CachedXattr) -> (value: [UInt8]??, generation: UInt64) {
        remembered.withLock { ($0.values[slot.rawValue], $0.generation) }
    }

    /// Remembers `value` read from disk, unless a change was stored since `generation` (the
    /// read may predate that change) or the inode stopped caching.
    func fill(_ slot: CachedXattr, _ value: [UInt8]?, generation: UInt64) {
        remembered.withLock { state in
            guard state.enabled, state.generation == generation else { return }
            state.values[slot.rawValue] = .some(value)
        }
    }

    /// After a write of `slot`: the new value (nil: removed), or, when the write failed or its
    /// outcome is unknown, forget it.
    func stored(_ slot: CachedXattr, _ value: [UInt8]?, succeeded: Bool) {
        remembered.withLock { state in
            state.generation &+= 1
            state.values[slot.rawValue] = state.enabled && succeeded ? .some(value) : nil
        }
    }

    /// Forgets every value and keeps none from now on (the object index let this inode go).
    func stopCaching() {
        remembered.withLock { state in
            state.enabled = false
            state.generation &+= 1
            state.values = MDTInodeXattrs.unknown
            state.ctimeAfterSize = nil
        }
    }

    // MARK: ctime across a close

    /// Notes that the inode's ctime became `backing` only because a close recorded the size (an
    /// xattr write, which moves ctime on ext4): until something changes it again, the inode
    /// shows `shown`. Kept in memory only: once the object index lets the inode go, or after a
    /// restart, the inode shows the later ctime of that write.
    func noteSizeRecorded(shown: MDTTime, backing: MDTTime) {
        remembered.withLock { state in
            if state.enabled { state.ctimeAfterSize = (shown, backing) }
        }
    }

    /// The ctime the inode shows, from its `stat`.
    func visibleCtime(_ st: Glibc.stat) -> MDTTime {
        let backing = MDTTime(st.st_ctim)
        return remembered.withLock { state in
            guard let kept = state.ctimeAfterSize, kept.backing == backing else { return backing }
            return kept.shown
        }
    }
}

/// What an `MDTInode` remembers of its xattrs.
struct MDTInodeXattrs {
    /// Per `MDTInode.CachedXattr`: nil not known, `.some(nil)` absent, `.some(bytes)` the value.
    var values: [[UInt8]??] = unknown
    /// Nothing known, one entry per slot.
    static let unknown = [[UInt8]??](repeating: nil, count: MDTInode.CachedXattr.allCases.count)
    /// Bumped by every store, so a fill racing with a change is dropped.
    var generation: UInt64 = 0
    var enabled = true
    /// The ctime to show while the backing inode's ctime is the one a close's size record gave it.
    var ctimeAfterSize: (shown: MDTTime, backing: MDTTime)?
}
