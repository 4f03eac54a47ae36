import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// `/etc/lustre/ldev.conf`, Lustre's map from target labels to the devices that hold them, in
/// Lustre's own format (one target a line, `#` comments):
///
/// ```
/// # local  foreign/-  label           [md:|zfs:]device-path   [journal-path]/-  [raidtab]
/// oss1     oss2       testfs-OST0000  /dev/sdb
/// mds1     -          testfs-MDT0000  /srv/lustre/mdt0.img
/// ```
///
/// The systemd units (`lustre-oss@testfs-OST0000.service`) start a daemon with `--ldev LABEL`;
/// it finds its device here.
public struct LDevConfiguration: Sendable, Equatable {
    /// Where Lustre keeps it.
    public static let defaultPath = "/etc/lustre/ldev.conf"

    /// One line.
    public struct Entry: Sendable, Equatable {
        /// The host that serves the target normally.
        public var local: String
        /// The failover host, nil for `-`.
        public var foreign: String?
        /// `testfs-OST0000`.
        public var label: String
        /// The device path, image file or `--backfs-dir` directory.
        public var device: String
    }

    /// The lines, in file order.
    public var entries: [Entry]

    /// Parses the text of an ldev.conf.
    ///
    /// - Throws: `EINVAL` naming the line for fewer than four fields, or a `zfs:`/`md:` device
    ///   (only ldiskfs-style targets exist here).
    public init(parsing text: String, source: String = defaultPath) throws(LustreError) {
        var entries: [Entry] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if fields.isEmpty { continue }
            guard fields.count >= 4 else {
                throw .invalid("\(source):\(number + 1): expected 'local foreign label device', got '\(fields.joined(separator: " "))'")
            }
            var device = fields[3]
            if device.hasPrefix("zfs:") || device.hasPrefix("md:") {
                throw .invalid("\(source):\(number + 1): \(device): only ldiskfs devices, images and directories are supported")
            }
            if device.hasPrefix("ldiskfs:") { device.removeFirst("ldiskfs:".count) }
            entries.append(Entry(local: fields[0], foreign: fields[1] == "-" ? nil : fields[1],
                                 label: fields[2], device: device))
        }
        self.entries = entries
    }

    /// `$LUSTRE_LDEV_CONF` (tests), else `defaultPath`.
    public static var configuredPath: String {
        if let value = getenv("LUSTRE_LDEV_CONF").map({ String(cString: $0) }), !value.isEmpty { return value }
        return defaultPath
    }

    /// Reads `path`.
    public static func load(path: String = configuredPath) throws(LustreError) -> LDevConfiguration {
        guard let file = fopen(path, "r") else { throw LustreError.fromErrno("open \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, file)
            if n == 0 { break }
            bytes += buffer[..<n]
            guard bytes.count <= 1 << 20 else { throw .invalid("\(path) is larger than 1 MiB") }
        }
        return try LDevConfiguration(parsing: String(decoding: bytes, as: UTF8.self), source: path)
    }

    /// The device for `label` on `host`: the line where `host` is the local node, else one where
    /// it is the foreign (failover) node, else the only line with that label.
    ///
    /// - Throws: `ENOENT` if no line names the label.
    public func device(for label: String, host: String = LDevConfiguration.hostName) throws(LustreError) -> String {
        let matching = entries.filter { $0.label == label }
        let chosen = matching.first { $0.local == host || $0.local == host.split(separator: ".").first.map(String.init) }
            ?? matching.first { $0.foreign == host }
            ?? (matching.count == 1 ? matching.first : nil)
        guard let chosen else {
            throw LustreError(errno: ENOENT, matching.isEmpty
                ? "no target labelled \(label) in ldev.conf"
                : "\(label) is in ldev.conf for other hosts (\(matching.map(\.local).joined(separator: ", "))), not \(host)")
        }
        return chosen.device
    }

    /// This node's host name, as ldev.conf's first column names it.
    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
