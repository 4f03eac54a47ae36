import LibCFS
import NIOCore

/// One target of a filesystem as the MGS knows it: its name, index and the NIDs of the server
/// serving it (Lustre's `add_uuid`/`setup` records of the client config log, folded together).
public struct TargetEntry: Sendable, Equatable {
    public var name: TargetName
    /// NIDs in Lustre syntax (`127.0.0.2@tcp`), the first one tried first.
    public var nids: [String]
    public var index: UInt32

    /// At most this many NIDs per target, each at most `maxNIDLength` bytes.
    public static let maxNIDs = 16
    public static let maxNIDLength = 64
    static let maxNameLength = 64

    public init(name: TargetName, nids: [String]) {
        self.name = name
        self.nids = nids
        self.index = name.index
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeWireString(name.description)
        buffer.writeInteger(index, endianness: .little)
        buffer.writeInteger(UInt32(nids.count), endianness: .little)
        for nid in nids { buffer.writeWireString(nid) }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let text = try buffer.readWireString(max: Self.maxNameLength, "target name")
        name = try TargetName(parsing: text)
        index = try buffer.readWireInteger("target index")
        guard index == name.index else {
            throw .protocolError("target \(name) sent with index \(index)")
        }
        let count = try buffer.readWireCount(max: Self.maxNIDs, "NIDs of \(text)")
        nids = []
        nids.reserveCapacity(count)
        for _ in 0..<count {
            let nid = try buffer.readWireString(max: Self.maxNIDLength, "NID of \(text)")
            guard !nid.isEmpty, !nid.contains(where: { $0 == " " || $0 == "," || $0 == "\n" }) else {
                throw .protocolError("target \(text) with a malformed NID '\(nid)'")
            }
            nids.append(nid)
        }
    }
}
