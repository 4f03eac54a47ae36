import Glibc
import LibCFS
import ObdClass

/// POSIX permission checks the MDT enforces for the caller's `MDTCredentials` (Lustre's
/// `mdd_permission`): owner, group (primary or supplementary) or other bits; root passes every
/// read/write check and an execute check when any execute bit is set (or on a directory).
enum MDTPermission {
    static let read: UInt32 = 4
    static let write: UInt32 = 2
    static let execute: UInt32 = 1

    /// Whether `credentials` may access an inode of `mode`/`uid`/`gid` for `mask` (rwx bits).
    static func allows(_ credentials: MDTCredentials, mode: UInt32, uid: UInt32, gid: UInt32,
                       mask: UInt32) -> Bool {
        if credentials.uid == 0 {
            guard mask & execute != 0 else { return true }
            return mode & UInt32(S_IFMT) == UInt32(S_IFDIR) || mode & 0o111 != 0
        }
        let bits: UInt32
        if credentials.uid == uid {
            bits = (mode >> 6) & 7
        } else if credentials.isMember(of: gid) {
            bits = (mode >> 3) & 7
        } else {
            bits = mode & 7
        }
        return bits & mask == mask
    }

    static func check(_ credentials: MDTCredentials, _ st: Glibc.stat, _ mask: UInt32,
                      _ what: @autoclosure () -> String) throws(LustreError) {
        guard allows(credentials, mode: st.st_mode, uid: st.st_uid, gid: st.st_gid, mask: mask) else {
            throw LustreError(errno: EACCES, what())
        }
    }

    /// Removing or renaming an entry of a sticky directory: only the entry's owner, the
    /// directory's owner, or root.
    static func checkSticky(_ credentials: MDTCredentials, directory: Glibc.stat, victim: Glibc.stat,
                            _ what: @autoclosure () -> String) throws(LustreError) {
        guard directory.st_mode & UInt32(S_ISVTX) != 0, credentials.uid != 0,
              credentials.uid != directory.st_uid, credentials.uid != victim.st_uid else { return }
        throw LustreError(errno: EPERM, what() + ": sticky directory")
    }

    /// Owner or root (chmod, utimes with explicit times, setting xattrs on others' files).
    static func checkOwner(_ credentials: MDTCredentials, _ st: Glibc.stat,
                           _ what: @autoclosure () -> String) throws(LustreError) {
        guard credentials.uid == 0 || credentials.uid == st.st_uid else { throw LustreError(errno: EPERM, what()) }
    }

    /// A valid entry name: not empty, not "." or "..", no "/" or NUL, at most 255 bytes.
    static func checkName(_ name: String) throws(LustreError) {
        guard name.utf8.count <= 255 else { throw LustreError(errno: ENAMETOOLONG, "name of \(name.utf8.count) bytes") }
        guard !name.isEmpty, name != ".", name != "..", !name.utf8.contains(UInt8(ascii: "/")),
              !name.utf8.contains(0) else { throw .invalid("invalid name '\(name)'") }
    }
}
