import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// POSIX permission bits against a caller, for `access(2)` (the MDS decides real operations).
enum AccessCheck {
    static func allows(_ attributes: MDTAttributes, _ credentials: MDTCredentials, mask: Int32) -> Bool {
        let wanted = UInt32(mask & (R_OK | W_OK | X_OK))
        guard wanted != 0 else { return true }
        let mode = attributes.mode
        if credentials.uid == 0 {
            // Root reads and writes anything; executes only what someone may execute (or a directory).
            return wanted & UInt32(X_OK) == 0 || attributes.isDirectory || mode & 0o111 != 0
        }
        let bits: UInt32
        if credentials.uid == attributes.uid {
            bits = (mode >> 6) & 7
        } else if credentials.isMember(of: attributes.gid) {
            bits = (mode >> 3) & 7
        } else {
            bits = mode & 7
        }
        return bits & wanted == wanted
    }
}
