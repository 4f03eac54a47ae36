import LibCFS
import NIOCore

/// What a client needs to mount a filesystem, as the MGS hands it out (the decoded form of
/// Lustre's `<fsname>-client` configuration log): the MDTs and OSTs with the NIDs serving them,
/// the filesystem's default layout, and `lctl set_param -P` parameters. `generation` grows with
/// every change, so a watching client knows when it has learnt something new.
public struct FilesystemConfiguration: Sendable, Equatable {
    public var fsname: String
    public var generation: UInt64
    public var mdts: [TargetEntry]
    public var osts: [TargetEntry]
    /// Stripe size, count and offset of files that inherit nothing closer.
    public var defaultLayout: LustreLayout
    public var parameters: [String: String]

    /// Caps of the wire form: more targets or parameters than this is a protocol error.
    public static let maxTargets = 4096
    public static let maxParameters = 1024
    public static let maxParameterNameLength = 256
    public static let maxParameterValueLength = 4096

    public init(fsname: String, generation: UInt64 = 0, mdts: [TargetEntry] = [], osts: [TargetEntry] = [],
                defaultLayout: LustreLayout = LustreLayout(stripeSize: LustreLayout.defaultStripeSize, stripeCount: 1),
                parameters: [String: String] = [:]) {
        self.fsname = fsname
        self.generation = generation
        self.mdts = mdts
        self.osts = osts
        self.defaultLayout = defaultLayout
        self.parameters = parameters
    }

    /// The entry of `target`, MDT or OST.
    public func entry(for target: TargetName) -> TargetEntry? {
        (target.kind == .mdt ? mdts : osts).first { $0.name == target }
    }

    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeWireString(fsname)
        buffer.writeInteger(generation, endianness: .little)
        buffer.writeWireLayout(defaultLayout)
        for list in [mdts, osts] {
            buffer.writeInteger(UInt32(list.count), endianness: .little)
            for entry in list { entry.encode(into: &buffer) }
        }
        buffer.writeInteger(UInt32(parameters.count), endianness: .little)
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) {
            buffer.writeWireString(name)
            buffer.writeWireString(value)
        }
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        fsname = try buffer.readWireString(max: TargetName.maxFsnameLength, "fsname")
        generation = try buffer.readWireInteger("configuration generation")
        guard let layout = try buffer.readWireLayout("default layout") else {
            throw .protocolError("configuration of \(fsname) without a default layout")
        }
        try layout.validateSettings()
        defaultLayout = layout
        var lists: [[TargetEntry]] = []
        for kind in [TargetName.Kind.mdt, .ost] {
            let count = try buffer.readWireCount(max: Self.maxTargets, "\(kind.rawValue)s")
            var list: [TargetEntry] = []
            list.reserveCapacity(count)
            for _ in 0..<count {
                let entry = try TargetEntry(decoding: &buffer)
                guard entry.name.kind == kind, entry.name.fsname == fsname else {
                    throw .protocolError("\(entry.name) listed among the \(kind.rawValue)s of \(fsname)")
                }
                list.append(entry)
            }
            lists.append(list)
        }
        mdts = lists[0]
        osts = lists[1]
        let count = try buffer.readWireCount(max: Self.maxParameters, "parameters")
        parameters = [:]
        for _ in 0..<count {
            let name = try buffer.readWireString(max: Self.maxParameterNameLength, "parameter name")
            parameters[name] = try buffer.readWireString(max: Self.maxParameterValueLength, "value of \(name)")
        }
    }
}
