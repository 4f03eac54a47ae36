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
    /// The inode number once known (0 before), for `MDTObjectIndex`'s lookup by inode number.
    let inodeNumber = Atomic<UInt64>(0)
    private let remembered = Mutex(MDTInodeXattrs())

    init(fd: Int32, fid: LustreFID, type: UInt32) {
        self.fd = fd
        self.fid = fid
        self.type = type
    }

    deinit { Glibc.close(fd) }

    var isDirectory: Bool { type == UInt32(S_IFDIR) }
    var isRegular: Bool { type == UInt32(S_IFREG) }
    var isSymlink: Bool { type == UInt32(S_IFLNK) }
    /// Where path-taking calls (xattrs, chmod, utimensat) reach this inode.
    var path: String { MDTSyscalls.procPath(fd) }

    func stat() throws(LustreError) -> Glibc.stat {
        var st = Glibc.stat()
        guard fstat(fd, &st) == 0 else { throw LustreError.fromErrno("fstat \(fid)") }
        return st
    }

    // MARK: remembered xattrs

    /// The MDT xattrs kept in memory.
    enum CachedXattr: Int { case sizeOnMDS = 0, layout = 1, links = 2 }

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
            state.values = [nil, nil, nil]
        }
    }
}

/// What an `MDTInode` remembers of its xattrs.
struct MDTInodeXattrs {
    /// Per `MDTInode.CachedXattr`: nil not known, `.some(nil)` absent, `.some(bytes)` the value.
    var values: [[UInt8]??] = [nil, nil, nil]
    /// Bumped by every store, so a fill racing with a change is dropped.
    var generation: UInt64 = 0
    var enabled = true
}
