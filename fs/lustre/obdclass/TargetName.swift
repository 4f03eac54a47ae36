import LibCFS

/// A target's name, `testfs-OST0000` or `testfs-MDT0000` (the volume label).
public struct TargetName: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case ost = "OST"
        case mdt = "MDT"
    }

    public var fsname: String
    public var kind: Kind
    public var index: UInt32

    /// Lustre limits a filesystem name to 8 characters.
    public static let maxFsnameLength = 8

    public init(fsname: String, kind: Kind, index: UInt32) throws(LustreError) {
        guard !fsname.isEmpty, fsname.utf8.count <= Self.maxFsnameLength,
              fsname.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x41 && $0 <= 0x5a)
                  || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f })
        else {
            throw .invalid("invalid filesystem name '\(fsname)': 1-8 letters, digits or '_'")
        }
        guard index <= 0xffff else { throw .invalid("target index \(index) exceeds 65535") }
        self.fsname = fsname
        self.kind = kind
        self.index = index
    }

    /// Parses `testfs-OST0000` (and `testfs-OST0000_UUID`).
    public init(parsing text: String) throws(LustreError) {
        var body = Substring(text)
        if body.hasSuffix("_UUID") { body = body.dropLast(5) }
        guard let dash = body.lastIndex(of: "-") else { throw .invalid("invalid target name '\(text)'") }
        let tail = body[body.index(after: dash)...]
        guard tail.count == 7, let kind = Kind(rawValue: String(tail.prefix(3))),
              let index = UInt32(tail.dropFirst(3), radix: 16)
        else { throw .invalid("invalid target name '\(text)': expected FSNAME-OSTxxxx or FSNAME-MDTxxxx") }
        try self.init(fsname: String(body[..<dash]), kind: kind, index: index)
    }

    /// `testfs-OST0000`: the index in 4 hex digits.
    public var description: String {
        let hex = String(index, radix: 16)
        return "\(fsname)-\(kind.rawValue)\(String(repeating: "0", count: max(0, 4 - hex.count)))\(hex)"
    }

    /// `testfs-OST0000_UUID`, the target's UUID as Lustre names it.
    public var uuid: String { "\(description)_UUID" }
}
