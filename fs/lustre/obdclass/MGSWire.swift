import LibCFS
import NIOCore

/// The opcodes of the MGS service (`enum mgs_cmd` in `lustre_idl.h`, Lustre's numbers).
public enum MGSOpcode: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case connect = 250
    case disconnect = 251
    /// `MGS_TARGET_REG`: a server announces a target it serves, with its NIDs.
    case targetRegister = 253
    /// `MGS_CONFIG_READ`: a client reads a filesystem's configuration, optionally waiting for a
    /// generation newer than the one it has (our long poll; Lustre uses a lock callback instead).
    case configRead = 256
    case ping = 400

    public var description: String {
        switch self {
        case .connect: "mgs_connect"
        case .disconnect: "mgs_disconnect"
        case .targetRegister: "mgs_target_reg"
        case .configRead: "mgs_config_read"
        case .ping: "obd_ping"
        }
    }
}

/// `MGS_TARGET_REG` request: `target` is served at `nids`. Registering again with the same NIDs
/// changes nothing; with other NIDs (a server moved) it replaces them.
public struct MGSTargetRegistration: Sendable, Equatable {
    public var target: TargetName
    public var nids: [String]

    public init(target: TargetName, nids: [String]) {
        self.target = target
        self.nids = nids
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        TargetEntry(name: target, nids: nids).encode(into: &buffer)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        let entry = try TargetEntry(decoding: &buffer)
        try buffer.expectWireEnd("target registration")
        guard !entry.nids.isEmpty else { throw .invalid("registration of \(entry.name) without a NID") }
        self.init(target: entry.name, nids: entry.nids)
    }
}

/// `MGS_TARGET_REG` reply: the configuration generation after the registration.
public struct MGSTargetRegistrationReply: Sendable, Equatable {
    public var generation: UInt64

    public init(generation: UInt64) { self.generation = generation }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(generation, endianness: .little)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        generation = try buffer.readWireInteger("generation")
        try buffer.expectWireEnd("registration reply")
    }
}

/// `MGS_CONFIG_READ` request: the configuration of `fsname`. With `waitMilliseconds` > 0 the MGS
/// holds the request until the generation exceeds `knownGeneration` or the wait runs out, then
/// answers with what it has (the same generation means "nothing new").
public struct MGSConfigRequest: Sendable, Equatable {
    public var fsname: String
    public var knownGeneration: UInt64
    public var waitMilliseconds: UInt32

    /// Longest wait a client may ask for.
    public static let maxWaitMilliseconds: UInt32 = 600_000

    public init(fsname: String, knownGeneration: UInt64 = 0, waitMilliseconds: UInt32 = 0) {
        self.fsname = fsname
        self.knownGeneration = knownGeneration
        self.waitMilliseconds = waitMilliseconds
    }

    public func encoded() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeWireString(fsname)
        buffer.writeInteger(knownGeneration, endianness: .little)
        buffer.writeInteger(waitMilliseconds, endianness: .little)
        return buffer
    }

    public init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        fsname = try buffer.readWireString(max: TargetName.maxFsnameLength, "fsname")
        knownGeneration = try buffer.readWireInteger("known generation")
        waitMilliseconds = try buffer.readWireInteger("wait")
        try buffer.expectWireEnd("config request")
        guard waitMilliseconds <= Self.maxWaitMilliseconds else {
            throw .invalid("config wait of \(waitMilliseconds) ms exceeds \(Self.maxWaitMilliseconds) ms")
        }
    }
}
