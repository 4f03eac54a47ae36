import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// Blocking Unix stream socket helpers shared by the admin server's thread and `lctl`.
enum AdminSocketIO {
    /// How long one side waits for the other to send or receive before giving up.
    static let ioTimeoutSeconds = 10

    /// A `sockaddr_un` for `path`; `ENAMETOOLONG` past the 107 bytes the kernel allows.
    static func address(_ path: String) throws(LustreError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw LustreError(errno: ENAMETOOLONG, "admin socket path '\(path)' is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in bytes.enumerated() { raw[i] = byte }
        }
        return address
    }

    /// A new `AF_UNIX` stream socket, close-on-exec.
    static func socket() throws(LustreError) -> Int32 {
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .fromErrno("socket(AF_UNIX)") }
        return fd
    }

    /// Bounds every later send and receive on `fd` so a stuck peer cannot hold the other side.
    static func setTimeouts(_ fd: Int32, seconds: Int = ioTimeoutSeconds) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Writes all of `bytes`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(LustreError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw .fromErrno("admin socket send")
            }
            offset += n
        }
    }

    /// Reads exactly `count` bytes; `ECONNRESET` if the peer closes first.
    static func readExactly(_ fd: Int32, _ count: Int) throws(LustreError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = bytes.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + offset, count - offset, 0)
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw .timedOut("admin socket: peer sent nothing for \(ioTimeoutSeconds) s") }
                throw .fromErrno("admin socket receive")
            }
            if n == 0 {
                throw LustreError(errno: ECONNRESET, "admin socket closed after \(offset) of \(count) bytes")
            }
            offset += n
        }
        return bytes
    }

    /// Reads one frame of `kind`, checking the header before allocating the payload.
    static func readMessage(_ fd: Int32, maxPayload: Int) throws(LustreError) -> AdminMessage {
        let header = try AdminMessage.decodeHeader(try readExactly(fd, AdminMessage.headerSize), maxPayload: maxPayload)
        let payload = try readExactly(fd, header.length)
        return AdminMessage(kind: header.kind, status: header.status, fields: try AdminMessage.decodeFields(payload))
    }
}
