import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// The `lctl` side of the admin sockets: finds the daemons of this node and sends each one
/// request.
public enum AdminClient {
    /// The run directory by default (`/run/lustre`), as the daemons' `--run-dir`.
    public static let defaultRunDir = "/run/lustre"

    /// `LUSTRE_RUN_DIR` from the environment, else `defaultRunDir`.
    public static var environmentRunDir: String {
        if let value = getenv("LUSTRE_RUN_DIR").map({ String(cString: $0) }), !value.isEmpty { return value }
        return defaultRunDir
    }

    /// The names of the admin sockets (`*.sock`) in `runDir`, sorted; empty if it does not exist.
    public static func socketNames(runDir: String) -> [String] {
        guard let dir = opendir(runDir) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasSuffix(".sock"), name.count > 5 else { continue }
            var info = stat()
            guard stat(runDir + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { continue }
            names.append(name)
        }
        return names.sorted()
    }

    /// Sends `request` to the socket at `path` and returns the reply (which may carry an errno:
    /// that is the daemon's answer, not a transport failure).
    ///
    /// - Throws: `ECONNREFUSED`/`ENOENT` when no daemon listens there (a stale socket), `EACCES`
    ///   when the socket's mode keeps this user out, `ETIMEDOUT`, `EPROTO` for a garbled reply.
    public static func send(_ request: AdminMessage, to path: String,
                            timeoutSeconds: Int = 10) throws(LustreError) -> AdminMessage {
        var address = try AdminSocketIO.address(path)
        let fd = try AdminSocketIO.socket()
        defer { close(fd) }
        AdminSocketIO.setTimeouts(fd, seconds: timeoutSeconds)
        let rc = withUnsafePointer(to: &address) {
            connect(fd, __CONST_SOCKADDR_ARG(__sockaddr_un__: $0), socklen_t(MemoryLayout<sockaddr_un>.size))
        }
        guard rc == 0 else { throw .fromErrno("connect \(path)") }
        do {
            try AdminSocketIO.writeAll(fd, request.encoded())
        } catch {
            // A refused peer gets its EACCES reply before the server reads anything, and the
            // close may beat our send: the reply, if any, says why.
            if let reply = try? AdminSocketIO.readMessage(fd, maxPayload: AdminMessage.maxReplyPayload) { return reply }
            throw error
        }
        let reply = try AdminSocketIO.readMessage(fd, maxPayload: AdminMessage.maxReplyPayload)
        guard reply.kind == .reply else { throw .protocolError("\(path) answered with a request frame") }
        return reply
    }
}
