#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore

/// A duplicate of a connection's socket descriptor, for sending from the caller's thread.
///
/// SwiftNIO keeps its channels' descriptors to itself, so the socket is found by its
/// addresses: the descriptor whose local and peer addresses are the channel's. The
/// duplicate keeps the socket open until it is closed here, so a descriptor number
/// NIO closes and the kernel hands out again is never written to by mistake.
enum LNetSocketDescriptor {
    /// A `dup` of `channel`'s socket, or nil when it cannot be found (the caller then
    /// sends through the event loop only). Call on the channel's event loop, where
    /// the channel cannot close meanwhile.
    static func duplicate(of channel: Channel) -> CInt? {
        guard let local = channel.localAddress, let remote = channel.remoteAddress,
              let localPort = local.port, let remotePort = remote.port,
              case .v4(let localV4) = local, case .v4(let remoteV4) = remote
        else { return nil }
        guard let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let fd = CInt(name),
                  matches(fd, peer: false, address: localV4.address, port: localPort),
                  matches(fd, peer: true, address: remoteV4.address, port: remotePort)
            else { continue }
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            return copy >= 0 ? copy : nil
        }
        return nil
    }

    /// Whether `fd`'s local (or, with `peer`, remote) address is `address` and `port`.
    private static func matches(_ fd: CInt, peer: Bool, address: sockaddr_in, port: Int) -> Bool {
        var found = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &found) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                // Glibc's address argument is a transparent union.
                let argument = __SOCKADDR_ARG(__sockaddr__: $0)
                return peer ? getpeername(fd, argument, &length) : getsockname(fd, argument, &length)
            }
        }
        return status == 0 && found.sin_family == sa_family_t(AF_INET)
            && found.sin_addr.s_addr == address.sin_addr.s_addr && Int(UInt16(bigEndian: found.sin_port)) == port
    }

    /// Sends `header` and `payload` without blocking; the bytes the kernel took.
    /// Zero when the socket would block or failed: the event loop's write then
    /// meets the same condition and handles it (waits for room, or closes).
    static func send(_ fd: CInt, _ header: ByteBuffer, _ payload: ByteBuffer?) -> Int {
        header.withUnsafeReadableBytes { head in
            var vectors = [iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count)]
            return withPayload(payload) { body in
                if let body, body.count > 0 {
                    vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress), iov_len: body.count))
                }
                return vectors.withUnsafeMutableBufferPointer { iov in
                    var message = msghdr()
                    message.msg_iov = iov.baseAddress
                    message.msg_iovlen = iov.count
                    let sent = sendmsg(fd, &message, CInt(MSG_DONTWAIT | MSG_NOSIGNAL))
                    return sent > 0 ? sent : 0
                }
            }
        }
    }

    private static func withPayload<T>(_ payload: ByteBuffer?, _ body: (UnsafeRawBufferPointer?) -> T) -> T {
        guard let payload else { return body(nil) }
        return payload.withUnsafeReadableBytes { body($0) }
    }
}
