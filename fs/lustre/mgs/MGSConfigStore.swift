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
        try DurableFile.replace("\(root)/\(MGSConfigLog.path(fsname: configuration.fsname))",
                                with: Array(MGSConfigLog.render(configuration).utf8),
                                temporary: "\(directory)/.\(configuration.fsname)-client.tmp")
    }

    private func read(_ path: String) throws(LustreError) -> String {
        let bytes = try DurableFile.read(path, limit: MGSConfigLog.maxFileSize)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw LustreError(errno: EINVAL, "\(path) is not UTF-8 text")
        }
        return text
    }
}
