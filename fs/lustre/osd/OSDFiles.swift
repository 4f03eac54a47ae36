import Glibc
import LibCFS
import LustreCompat

/// Small POSIX helpers for the OSD's metadata work: cheap syscalls (open, mkdir, readdir) that
/// may run on the calling task, and 8-byte counter files read and written through the I/O engine.
enum OSDFiles {
    /// `openat` below `directory`, retried on EINTR; the error names the path.
    static func open(_ path: String, in directory: Int32, flags: Int32, mode: mode_t = 0o644,
                     what: @autoclosure () -> String) throws(LustreError) -> Int32 {
        while true {
            let fd = openat(directory, path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            let error = errno
            if error != EINTR { throw LustreError(errno: error, "open \(what()) (\(path))") }
        }
    }

    /// Creates `path` below `directory` and every missing parent; existing ones are fine.
    static func makeDirectories(_ path: String, in directory: Int32) throws(LustreError) {
        var prefix = ""
        for component in path.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/\(component)"
            if mkdirat(directory, prefix, 0o755) != 0 && errno != EEXIST {
                throw LustreError.fromErrno("mkdir \(prefix)")
            }
        }
    }

    /// The names in directory `path` below `directory` (without `.` and `..`); empty if it
    /// does not exist.
    static func list(_ path: String, in directory: Int32) throws(LustreError) -> [String] {
        let fd = openat(directory, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return [] }
            throw LustreError.fromErrno("open directory \(path)")
        }
        guard let stream = fdopendir(fd) else {
            let error = LustreError.fromErrno("fdopendir \(path)")
            close(fd)
            throw error
        }
        defer { closedir(stream) }
        var names = [String]()
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Reads a little-endian 64-bit counter from the start of `fd`; nil if the file is shorter.
    static func readCounter(_ fd: Int32, engine: any IOEngine) async throws(LustreError) -> UInt64? {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { buffer.deallocate() }
        let n = try await engine.readFully(fd: fd, into: buffer, at: 0)
        guard n == 8 else { return nil }
        return UInt64(littleEndian: buffer.load(as: UInt64.self))
    }

    /// Writes a little-endian 64-bit counter at the start of `fd` (not synced).
    static func writeCounter(_ value: UInt64, to fd: Int32, engine: any IOEngine) async throws(LustreError) {
        // Heap memory, not a stack temporary: the kernel reads it asynchronously.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
        defer { buffer.deallocate() }
        buffer.storeBytes(of: value.littleEndian, as: UInt64.self)
        try await engine.writeAll(fd: fd, from: UnsafeRawBufferPointer(buffer), at: 0)
    }
}
