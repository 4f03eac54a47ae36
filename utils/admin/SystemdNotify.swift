import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one datagram to the Unix
/// socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
///
/// Daemons send `READY=1` once their targets serve, `STATUS=…` lines as they go, and
/// `STOPPING=1` when they begin to stop.  Without `$NOTIFY_SOCKET` (not started by systemd with
/// `Type=notify`) every call does nothing.
public enum SystemdNotify {
    /// Sends `state` (`READY=1`, `STATUS=serving testfs-OST0000`, several lines joined by `\n`).
    /// Returns false if `$NOTIFY_SOCKET` is unset; throws if it is set and the send fails.
    @discardableResult
    public static func send(_ state: String) throws(LustreError) -> Bool {
        guard let socketPath = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !socketPath.isEmpty else {
            return false
        }
        try send(state, to: socketPath)
        return true
    }

    /// `send` that logs a failure instead of throwing: readiness is best effort for a daemon
    /// that already serves.
    public static func notify(_ state: String) {
        do {
            try send(state)
        } catch {
            CWARN("sd_notify \(state.split(separator: "\n").first ?? ""): \(error)")
        }
    }

    /// Sends `state` to the notify socket `socketPath`.
    public static func send(_ state: String, to socketPath: String) throws(LustreError) {
        guard socketPath.hasPrefix("/") || socketPath.hasPrefix("@") else {
            throw .invalid("NOTIFY_SOCKET '\(socketPath)' is neither a path nor an @abstract name")
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketPath.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw LustreError(errno: ENAMETOOLONG, "NOTIFY_SOCKET '\(socketPath)'") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        // An abstract address's length counts exactly its bytes; a path's includes the NUL.
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .fromErrno("socket for NOTIFY_SOCKET") }
        defer { close(fd) }
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { sa in
            message.withUnsafeBytes {
                sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), __CONST_SOCKADDR_ARG(__sockaddr_un__: sa), length)
            }
        }
        guard sent == message.count else { throw .fromErrno("send to NOTIFY_SOCKET \(socketPath)") }
    }
}
