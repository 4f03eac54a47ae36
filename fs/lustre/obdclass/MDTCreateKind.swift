import LibCFS
import NIOCore

/// What a create makes: a regular file (its OST objects allocated), a directory, a symlink to
/// `target`, or a node (fifo, socket, character or block device, by `mode`'s type bits).
/// In ObdClass because both the MDT and the MDC (which must not import the MDT) use it.
public enum MDTCreateKind: Sendable, Equatable {
    case file
    case directory
    case symlink(target: String)
    case node(rdev: UInt32)

    /// Longest symlink target accepted (`PATH_MAX`).
    public static let maxSymlinkLength = 4096

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .file:
            buffer.writeInteger(UInt32(0), endianness: .little)
        case .directory:
            buffer.writeInteger(UInt32(1), endianness: .little)
        case .symlink(let target):
            buffer.writeInteger(UInt32(2), endianness: .little)
            buffer.writeWireString(target)
        case .node(let rdev):
            buffer.writeInteger(UInt32(3), endianness: .little)
            buffer.writeInteger(rdev, endianness: .little)
        }
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let tag: UInt32 = try buffer.readWireInteger("create kind")
        switch tag {
        case 0: self = .file
        case 1: self = .directory
        case 2:
            let target = try buffer.readWireString(max: Self.maxSymlinkLength, "symlink target")
            guard !target.isEmpty else { throw .invalid("empty symlink target") }
            self = .symlink(target: target)
        case 3: self = .node(rdev: try buffer.readWireInteger("rdev"))
        default: throw .protocolError("unknown create kind \(tag)")
        }
    }
}
