import Glibc
import LibCFS
import ObdClass

/// The text form of a filesystem's configuration as the MGS keeps it in
/// `CONFIGS/<fsname>-client` on its target (Lustre keeps a binary llog of `lustre_cfg` records
/// there; a line per record is enough for what this MGS records and readable with `cat`):
///
/// ```
/// # Lustre client configuration of testfs, kept by the MGS
/// fsname testfs
/// generation 3
/// layout stripe_size=1048576 stripe_count=1 stripe_offset=-1
/// target testfs-MDT0000 127.0.0.1@tcp
/// target testfs-OST0000 127.0.0.2@tcp 127.0.0.2@tcp1
/// param osc.*.max_dirty_mb=64
/// ```
///
/// `#` lines and blank lines are ignored; unknown keywords are refused, so a file written by a
/// newer MGS is not half-understood.
enum MGSConfigLog {
    /// The file name of `fsname`'s configuration, relative to the target root.
    static func path(fsname: String) -> String { "CONFIGS/\(fsname)-client" }

    /// Largest configuration file read (a 4096-OST filesystem fits easily).
    static let maxFileSize = 4 << 20

    static func render(_ configuration: FilesystemConfiguration) -> String {
        var lines = ["# Lustre client configuration of \(configuration.fsname), kept by the MGS",
                     "fsname \(configuration.fsname)",
                     "generation \(configuration.generation)"]
        let layout = configuration.defaultLayout
        lines.append("layout stripe_size=\(layout.stripeSize) stripe_count=\(layout.stripeCountValue) "
                     + "stripe_offset=\(layout.stripeOffsetValue)")
        for entry in configuration.mdts + configuration.osts {
            lines.append((["target", entry.name.description] + entry.nids).joined(separator: " "))
        }
        for (name, value) in configuration.parameters.sorted(by: { $0.key < $1.key }) {
            lines.append("param \(name)=\(value)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func parse(_ text: String, file: String) throws(LustreError) -> FilesystemConfiguration {
        var fsname: String?
        var generation: UInt64?
        var layout = LustreLayout(stripeSize: LustreLayout.defaultStripeSize, stripeCount: 1)
        var mdts: [TargetEntry] = []
        var osts: [TargetEntry] = []
        var parameters: [String: String] = [:]
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            func bad(_ why: String) -> LustreError { LustreError(errno: EINVAL, "\(file) line \(number + 1): \(why)") }
            let fields = line.split(separator: " ")
            guard let keyword = fields.first, !keyword.hasPrefix("#") else { continue }
            switch keyword {
            case "fsname":
                guard fields.count == 2 else { throw bad("fsname takes one name") }
                do {
                    _ = try TargetName(fsname: String(fields[1]), kind: .mdt, index: 0)
                } catch {
                    throw bad("\(error.context)")
                }
                fsname = String(fields[1])
            case "generation":
                guard fields.count == 2, let value = UInt64(fields[1]) else { throw bad("generation takes a number") }
                generation = value
            case "layout":
                var settings: [Substring: Int] = [:]
                for field in fields.dropFirst() {
                    let pair = field.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, let value = Int(pair[1]) else { throw bad("malformed layout setting '\(field)'") }
                    settings[pair[0]] = value
                }
                guard let size = settings["stripe_size"], let count = settings["stripe_count"],
                      let offset = settings["stripe_offset"], settings.count == 3,
                      let stripeSize = UInt32(exactly: size), (-1...Int(LustreLayout.maxStripeCount)).contains(count),
                      (-1..<0xffff).contains(offset)
                else { throw bad("layout needs stripe_size, stripe_count (-1...2000) and stripe_offset (-1...65534)") }
                layout = LustreLayout(stripeSize: stripeSize,
                                      stripeCount: count < 0 ? LustreLayout.stripeCountAll : UInt16(count),
                                      stripeOffset: offset < 0 ? LustreLayout.stripeOffsetAny : UInt16(offset))
                do {
                    try layout.validateSettings()
                } catch {
                    throw bad("\(error.context)")
                }
            case "target":
                guard fields.count >= 3, fields.count - 2 <= TargetEntry.maxNIDs else {
                    throw bad("target takes a name and 1...\(TargetEntry.maxNIDs) NIDs")
                }
                let name: TargetName
                do {
                    name = try TargetName(parsing: String(fields[1]))
                } catch {
                    throw bad("\(error.context)")
                }
                let entry = TargetEntry(name: name, nids: fields.dropFirst(2).map(String.init))
                if name.kind == .mdt { mdts.append(entry) } else { osts.append(entry) }
            case "param":
                let body = line.dropFirst("param ".count)
                guard let equals = body.firstIndex(of: "="), equals != body.startIndex else {
                    throw bad("param takes NAME=VALUE")
                }
                parameters[String(body[..<equals])] = String(body[body.index(after: equals)...])
            default:
                throw bad("unknown record '\(keyword)'")
            }
        }
        guard let fsname, let generation else { throw LustreError(errno: EINVAL, "\(file): no fsname or generation record") }
        for entry in mdts + osts where entry.name.fsname != fsname {
            throw LustreError(errno: EINVAL, "\(file): target \(entry.name) does not belong to \(fsname)")
        }
        return FilesystemConfiguration(fsname: fsname, generation: generation,
                                       mdts: mdts.sorted { $0.index < $1.index },
                                       osts: osts.sorted { $0.index < $1.index },
                                       defaultLayout: layout, parameters: parameters)
    }
}
