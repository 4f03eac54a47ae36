import Glibc
import LibCFS
import ObdClass

/// Reads and writes the configuration files under `CONFIGS/` of the MGS target. A write goes to
/// a temporary file that is fsynced, renamed over the old one and the directory fsynced, so a
/// crash leaves the old configuration or the new one, never a torn file. Blocking: callers run
/// it on an OS thread.
struct MGSConfigStore: Sendable {
    let root: String

    var directory: String { root + "/CONFIGS" }

    /// Every `<fsname>-client` file of the target.
    func loadAll() throws(LustreError) -> [FilesystemConfiguration] {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST { throw .fromErrno("mkdir \(directory)") }
        guard let dir = opendir(directory) else { throw .fromErrno("open \(directory)") }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasSuffix("-client"), !name.hasPrefix(".") { names.append(name) }
        }
        closedir(dir)
        var configurations: [FilesystemConfiguration] = []
        for name in names.sorted() {
            let path = "\(directory)/\(name)"
            let text = try read(path)
            let configuration = try MGSConfigLog.parse(text, file: path)
            guard MGSConfigLog.path(fsname: configuration.fsname) == "CONFIGS/\(name)" else {
                throw LustreError(errno: EINVAL, "\(path) holds the configuration of \(configuration.fsname)")
            }
            configurations.append(configuration)
        }
        return configurations
    }

    /// Replaces `CONFIGS/<fsname>-client` atomically and durably.
    func save(_ configuration: FilesystemConfiguration) throws(LustreError) {
        let path = "\(root)/\(MGSConfigLog.path(fsname: configuration.fsname))"
        let temporary = "\(directory)/.\(configuration.fsname)-client.tmp"
        let bytes = Array(MGSConfigLog.render(configuration).utf8)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .fromErrno("create \(temporary)") }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, bytes.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                let error = LustreError.fromErrno("write \(temporary)")
                close(fd)
                throw error
            }
            written += count
        }
        guard fsync(fd) == 0 else {
            let error = LustreError.fromErrno("fsync \(temporary)")
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw .fromErrno("rename \(temporary) to \(path)") }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dirfd >= 0 else { throw .fromErrno("open \(directory)") }
        defer { close(dirfd) }
        guard fsync(dirfd) == 0 else { throw .fromErrno("fsync \(directory)") }
    }

    private func read(_ path: String) throws(LustreError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .fromErrno("open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw .fromErrno("read \(path)")
            }
            if count == 0 { break }
            bytes += chunk.prefix(count)
            guard bytes.count <= MGSConfigLog.maxFileSize else {
                throw LustreError(errno: EFBIG, "\(path) is larger than \(MGSConfigLog.maxFileSize) bytes")
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LustreError(errno: EINVAL, "\(path) is not UTF-8 text")
        }
        return text
    }
}
