import Glibc
import LibCFS

/// A target's persistent identity, Lustre's `lustre_disk_data`: the `CONFIGS/mountdata` file that
/// `mkfs.lustre` writes, `tunefs.lustre` edits and a server reads when it starts the target.
///
/// The layout is Lustre's byte for byte (12288 bytes, host order, which is little-endian on every
/// machine this runs on), so images can be inspected with Lustre's own tools:
///
/// | offset | field | size |
/// | ---: | --- | ---: |
/// | 0 | `ldd_magic` (0x1dd00001) | 4 |
/// | 4 | `ldd_feature_compat`, `_rocompat`, `_incompat` | 3 × 4 |
/// | 16 | `ldd_config_ver` | 4 |
/// | 20 | `ldd_flags` (`LDD_F_*`) | 4 |
/// | 24 | `ldd_svindex` | 4 |
/// | 28 | `ldd_mount_type` (`LDD_MT_*`) | 4 |
/// | 32 | `ldd_fsname` | 64 |
/// | 96 | `ldd_svname` | 64 |
/// | 160 | `ldd_uuid` | 40 |
/// | 200 | `ldd_userdata` (the `--comment`) | 824 |
/// | 1024 | `ldd_padding` | 3072 |
/// | 4096 | `ldd_mount_opts` | 4096 |
/// | 8192 | `ldd_params` (` key=value` pairs) | 4096 |
///
/// Strings are NUL-terminated within their field.  Decoding accepts any bytes and answers with a
/// value or a `LustreError`, never a trap.
public struct MountData: Equatable, Sendable {
    // MARK: Constants from lustre_disk.h

    /// `LDD_MAGIC`.
    public static let magic: UInt32 = 0x1dd0_0001
    /// `sizeof(struct lustre_disk_data)`.
    public static let size = 12288
    /// Where the file lives on the target, relative to its root (`MOUNT_DATA_FILE`).
    public static let filePath = "CONFIGS/mountdata"
    /// The directory holding it (`MOUNT_CONFIGS_DIR`).
    public static let configsDirectory = "CONFIGS"
    /// `INDEX_UNASSIGNED`: the index of an MGS-only target, or of one still waiting for the MGS
    /// to assign it.
    public static let unassignedIndex: UInt32 = 0xffff

    /// Offsets and sizes of the fields, as `offsetof`/`sizeof` give them for Lustre's struct.
    public enum Layout {
        public static let magic = 0
        public static let featureCompat = 4
        public static let featureROCompat = 8
        public static let featureIncompat = 12
        public static let configVersion = 16
        public static let flags = 20
        public static let index = 24
        public static let mountType = 28
        public static let fsname = (offset: 32, size: 64)
        public static let svname = (offset: 96, size: 64)
        public static let uuid = (offset: 160, size: 40)
        public static let userdata = (offset: 200, size: 1024 - 200)
        public static let padding = (offset: 1024, size: 4096 - 1024)
        public static let mountOptions = (offset: 4096, size: 4096)
        public static let params = (offset: 8192, size: 4096)
    }

    /// `ldd_flags`: what the target serves and what it still has to do at its next start.
    public struct Flags: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// `LDD_F_SV_TYPE_MDT`.
        public static let mdt = Flags(rawValue: 0x0001)
        /// `LDD_F_SV_TYPE_OST`.
        public static let ost = Flags(rawValue: 0x0002)
        /// `LDD_F_SV_TYPE_MGS`.
        public static let mgs = Flags(rawValue: 0x0004)
        /// `LDD_F_SV_ALL`.
        public static let serviceAll = Flags(rawValue: 0x0008)
        /// `LDD_F_NEED_INDEX`: the MGS must assign an index at registration.
        public static let needIndex = Flags(rawValue: 0x0010)
        /// `LDD_F_VIRGIN`: never registered with the MGS (`first_time`).
        public static let virgin = Flags(rawValue: 0x0020)
        /// `LDD_F_UPDATE`: update the MGS config logs for this target.
        public static let update = Flags(rawValue: 0x0040)
        /// `LDD_F_REWRITE_LDD`: the server must rewrite this file.
        public static let rewriteLDD = Flags(rawValue: 0x0080)
        /// `LDD_F_WRITECONF`: regenerate the config logs.
        public static let writeconf = Flags(rawValue: 0x0100)
        /// `LDD_F_PARAM`: process as `lctl conf_param`.
        public static let param = Flags(rawValue: 0x0400)
        /// `LDD_F_NO_PRIMNODE`: all nodes given as service nodes.
        public static let noPrimaryNode = Flags(rawValue: 0x1000)
        /// `LDD_F_IR_CAPABLE`: imperative recovery enabled.
        public static let irCapable = Flags(rawValue: 0x2000)
        /// `LDD_F_ERROR`: the MGS refused to register the target.
        public static let error = Flags(rawValue: 0x4000)
        /// `LDD_F_PARAM2`.
        public static let param2 = Flags(rawValue: 0x8000)
        /// `LDD_F_NO_LOCAL_LOGS`.
        public static let noLocalLogs = Flags(rawValue: 0x10000)

        /// `LDD_F_SV_TYPE_MASK`.
        public static let serviceTypes: Flags = [.mdt, .ost, .mgs]

        /// The words `mkfs.lustre` prints for the flags, in its order ("MDT MGS first_time update ").
        public var names: String {
            let words: [(Flags, String)] = [
                (.mdt, "MDT"), (.ost, "OST"), (.mgs, "MGS"), (.needIndex, "needs_index"),
                (.virgin, "first_time"), (.update, "update"), (.writeconf, "writeconf"),
                (.noPrimaryNode, "no_primnode"), (.noLocalLogs, "nolocallogs"),
            ]
            return words.filter { contains($0.0) }.map { $0.1 + " " }.joined()
        }
    }

    /// `ldd_mount_type`, the backing filesystem; unknown values survive a round trip.
    public struct MountType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        public static let ext3 = MountType(rawValue: 0)
        public static let ldiskfs = MountType(rawValue: 1)
        public static let smfs = MountType(rawValue: 2)
        public static let reiserfs = MountType(rawValue: 3)
        public static let ldiskfs2 = MountType(rawValue: 4)
        public static let zfs = MountType(rawValue: 5)

        /// Lustre's `MT_STR`: "ldiskfs", "zfs", …, "unknown".
        public var description: String {
            let names = ["ext3", "ldiskfs", "smfs", "reiserfs", "ldiskfs2", "zfs"]
            return rawValue < names.count ? names[Int(rawValue)] : "unknown"
        }
    }

    /// One ` key=value` entry of `ldd_params`; the same key may appear more than once
    /// (`mgsnode=` for each MGS failover node).
    public struct Parameter: Hashable, Sendable, CustomStringConvertible {
        public var key: String
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }

        /// Parses `key=value`; the value may contain '=' but neither part may contain a space,
        /// since ldd_params separates entries with spaces.
        public init(parsing text: String) throws(LustreError) {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw .invalid("invalid parameter '\(text)': expected KEY=VALUE")
            }
            guard !text.contains(" "), !text.contains("\t"), !text.contains("\0") else {
                throw .invalid("invalid parameter '\(text)': no spaces allowed")
            }
            self.init(key: String(text[..<equals]), value: String(text[text.index(after: equals)...]))
        }

        public var description: String { "\(key)=\(value)" }
    }

    // MARK: Fields

    /// `ldd_feature_compat`.
    public var featureCompat: UInt32 = 0
    /// `ldd_feature_rocompat`.
    public var featureROCompat: UInt32 = 0
    /// `ldd_feature_incompat`.
    public var featureIncompat: UInt32 = 0
    /// `ldd_config_ver`: Lustre writes 1 and never reads it.
    public var configVersion: UInt32 = 1
    /// `ldd_flags`.
    public var flags: Flags = []
    /// `ldd_svindex`: the target index, or `unassignedIndex`.
    public var index: UInt32 = MountData.unassignedIndex
    /// `ldd_mount_type`.
    public var mountType: MountType = .ldiskfs
    /// `ldd_fsname`: the filesystem this target belongs to (empty for a lone MGS).
    public var fsname: String = ""
    /// `ldd_svname`: the target's name, `testfs-OST0000`, or `MGS`.
    public var svname: String = ""
    /// `ldd_uuid` (COMPAT_146; empty on new targets).
    public var uuid: String = ""
    /// `ldd_userdata`: the `--comment` string.
    public var comment: String = ""
    /// `ldd_mount_opts`: options for mounting the backing filesystem.
    public var mountOptions: String = ""
    /// `ldd_params` verbatim: space-separated `key=value` entries, each with a leading space
    /// as Lustre's `add_param` writes them.
    public var rawParameters: String = ""

    /// An empty record with Lustre's defaults (`set_defaults`: magic, config version 1, ldiskfs,
    /// index unassigned).
    public init() {}

    // MARK: Accessors

    /// The services this target runs: any of `.mdt`, `.ost`, `.mgs`.
    public var serviceTypes: Flags { flags.intersection(.serviceTypes) }
    public var isMDT: Bool { flags.contains(.mdt) }
    public var isOST: Bool { flags.contains(.ost) }
    public var isMGS: Bool { flags.contains(.mgs) }

    /// The target name as a `TargetName` when the target is an OST or MDT with an index; nil
    /// for a lone MGS, or an svname that is not `FSNAME-{OST,MDT}xxxx` (`FSNAME:OSTxxxx`, Lustre's
    /// spelling before first registration, is accepted too).
    public var targetName: TargetName? {
        try? TargetName(parsing: svname.replacingColonWithDash())
    }

    /// The entries of `ldd_params`, in order.
    public var parameters: [Parameter] {
        rawParameters.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map { entry in
            if let equals = entry.firstIndex(of: "=") {
                return Parameter(key: String(entry[..<equals]), value: String(entry[entry.index(after: equals)...]))
            }
            return Parameter(key: String(entry), value: "")
        }
    }

    /// `ldd_params` as a dictionary; repeated keys keep all their values, in order.
    public var parameterDictionary: [String: [String]] {
        var result: [String: [String]] = [:]
        for parameter in parameters { result[parameter.key, default: []].append(parameter.value) }
        return result
    }

    /// The values of `key`, in order (several for `mgsnode`).
    public func values(of key: String) -> [String] {
        parameters.filter { $0.key == key }.map(\.value)
    }

    /// The MGS nodes in failover order, each as the NIDs it answers on.  Lustre separates
    /// failover nodes with ':' within one `mgsnode=` and by repeating `mgsnode=`; NIDs of one
    /// node are separated by ','.
    public var mgsNodes: [[String]] {
        values(of: "mgsnode").flatMap { $0.split(separator: ":").map { $0.split(separator: ",").map(String.init) } }
    }

    /// Appends ` key=value` (Lustre's `add_param`); EINVAL if it would not fit in `ldd_params`.
    public mutating func addParameter(_ parameter: Parameter) throws(LustreError) {
        guard !parameter.key.isEmpty, !parameter.description.contains(" ") else {
            throw .invalid("invalid parameter '\(parameter)'")
        }
        let updated = rawParameters + " " + parameter.description
        guard updated.utf8.count < Layout.params.size else {
            throw LustreError(errno: E2BIG, "parameters are too long (max \(Layout.params.size - 1) bytes): \(parameter)")
        }
        rawParameters = updated
    }

    /// Removes every entry for `key` and appends `parameter` (what `tunefs.lustre --param`
    /// does, so a setting can be changed rather than duplicated).
    public mutating func replaceParameter(_ parameter: Parameter) throws(LustreError) {
        let kept = parameters.filter { $0.key != parameter.key }
        var copy = self
        copy.rawParameters = ""
        for entry in kept { try copy.addParameter(entry) }
        try copy.addParameter(parameter)
        self = copy
    }

    /// Removes every entry for `key`; returns whether there was one.
    @discardableResult
    public mutating func removeParameters(key: String) -> Bool {
        let all = parameters
        let kept = all.filter { $0.key != key }
        guard kept.count != all.count else { return false }
        rawParameters = kept.map { " " + $0.description }.joined()
        return true
    }

    // MARK: Printing

    /// The block `mkfs.lustre` and `tunefs.lustre` print (Lustre's `print_ldd`), headed by
    /// `heading` ("Permanent disk data", "Read previous values").
    public func report(heading: String) -> String {
        var lines = ["", "   \(heading):"]
        lines.append("Target:     \(svname)")
        lines.append(index == Self.unassignedIndex ? "Index:      unassigned" : "Index:      \(index)")
        if !uuid.isEmpty { lines.append("UUID:       \(uuid)") }
        lines.append("Lustre FS:  \(fsname)")
        lines.append("Mount type: \(mountType)")
        lines.append("Flags:      0x\(String(flags.rawValue, radix: 16))")
        lines.append("              (\(flags.names))")
        lines.append("Persistent mount opts: \(mountOptions)")
        lines.append("Parameters:\(rawParameters)")
        if !comment.isEmpty { lines.append("Comment: \(comment)") }
        lines.append("")
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: Encoding

    /// Checks that every string fits its field with its terminating NUL and holds no NUL.
    public func validate() throws(LustreError) {
        let fields: [(String, String, Int)] = [
            ("fsname", fsname, Layout.fsname.size), ("svname", svname, Layout.svname.size),
            ("uuid", uuid, Layout.uuid.size), ("comment", comment, Layout.userdata.size),
            ("mount options", mountOptions, Layout.mountOptions.size),
            ("parameters", rawParameters, Layout.params.size),
        ]
        for (name, value, size) in fields {
            guard value.utf8.count < size else {
                throw LustreError(errno: E2BIG, "mountdata \(name) is \(value.utf8.count) bytes, at most \(size - 1) fit")
            }
            guard !value.utf8.contains(0) else { throw .invalid("mountdata \(name) contains a NUL byte") }
        }
    }

    /// The 12288 bytes of `CONFIGS/mountdata`; fails if a string does not fit its field.
    public func encode() throws(LustreError) -> [UInt8] {
        try validate()
        var bytes = [UInt8](repeating: 0, count: Self.size)
        func put(_ value: UInt32, at offset: Int) {
            for shift in 0..<4 { bytes[offset + shift] = UInt8(truncatingIfNeeded: value >> (8 * shift)) }
        }
        func put(_ value: String, at field: (offset: Int, size: Int)) {
            // validate() guarantees room for the NUL, which the zeroed array already holds.
            for (offset, byte) in value.utf8.enumerated() { bytes[field.offset + offset] = byte }
        }
        put(Self.magic, at: Layout.magic)
        put(featureCompat, at: Layout.featureCompat)
        put(featureROCompat, at: Layout.featureROCompat)
        put(featureIncompat, at: Layout.featureIncompat)
        put(configVersion, at: Layout.configVersion)
        put(flags.rawValue, at: Layout.flags)
        put(index, at: Layout.index)
        put(mountType.rawValue, at: Layout.mountType)
        put(fsname, at: Layout.fsname)
        put(svname, at: Layout.svname)
        put(uuid, at: Layout.uuid)
        put(comment, at: Layout.userdata)
        put(mountOptions, at: Layout.mountOptions)
        put(rawParameters, at: Layout.params)
        return bytes
    }

    /// Decodes `CONFIGS/mountdata`: EINVAL for a wrong length, a wrong magic, or a string
    /// field without its NUL or not UTF-8.
    public init(decoding bytes: some Collection<UInt8>) throws(LustreError) {
        let bytes = Array(bytes)
        guard bytes.count >= 4 else {
            throw .invalid("mountdata is \(bytes.count) bytes, expected \(Self.size)")
        }
        func word(_ offset: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
        }
        let magic = word(Layout.magic)
        guard magic == Self.magic else {
            if magic == Self.magic.byteSwapped {
                throw .invalid("mountdata was written on a host of the other byte order")
            }
            throw .invalid("mountdata has bad magic 0x\(String(magic, radix: 16)), expected 0x\(String(Self.magic, radix: 16))")
        }
        guard bytes.count == Self.size else {
            throw .invalid("mountdata is \(bytes.count) bytes, expected \(Self.size)")
        }
        func string(_ name: String, _ field: (offset: Int, size: Int)) throws(LustreError) -> String {
            let slice = bytes[field.offset..<(field.offset + field.size)]
            guard let end = slice.firstIndex(of: 0) else {
                throw .invalid("mountdata \(name) is not NUL-terminated")
            }
            guard let text = String(validating: bytes[field.offset..<end], as: UTF8.self) else {
                throw .invalid("mountdata \(name) is not valid UTF-8")
            }
            return text
        }
        featureCompat = word(Layout.featureCompat)
        featureROCompat = word(Layout.featureROCompat)
        featureIncompat = word(Layout.featureIncompat)
        configVersion = word(Layout.configVersion)
        flags = Flags(rawValue: word(Layout.flags))
        index = word(Layout.index)
        mountType = MountType(rawValue: word(Layout.mountType))
        fsname = try string("fsname", Layout.fsname)
        svname = try string("svname", Layout.svname)
        uuid = try string("uuid", Layout.uuid)
        comment = try string("userdata", Layout.userdata)
        mountOptions = try string("mount options", Layout.mountOptions)
        rawParameters = try string("parameters", Layout.params)
    }
}

extension String {
    /// Lustre names a target `testfs:OST0000` until the MGS has registered it; the rest of the
    /// name is the same.
    fileprivate func replacingColonWithDash() -> String {
        String(map { $0 == ":" ? "-" : $0 })
    }
}
