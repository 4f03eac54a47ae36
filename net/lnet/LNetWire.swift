import LibCFS
import NIOCore

/// Hard limits every frame is checked against before anything is allocated.
public enum LNetLimits {
    /// The largest payload one LNet message may carry (4 MiB bulk RPCs plus headroom).
    public static let maxPayload = 8 << 20
}

/// The four LNet message types, numbered as `lnet_msg_type`.
public enum LNetMessageType: UInt32, Sendable {
    case ack = 0
    case put = 1
    case get = 2
    case reply = 3
}

/// The connection types of the socket LND. Small messages travel on `control`
/// so they never queue behind bulk data (socklnd's typed connections).
public enum LNetConnectionType: UInt32, Sendable, CaseIterable {
    case control = 1
    case bulk = 2
}

/// The hello both ends of a new TCP connection send first: who they are, who
/// they expect to talk to, and the incarnation that tells a restarted peer apart.
struct LNetHello: Equatable, Sendable {
    static let magic: UInt32 = 0xeebc_0ded          // LNET_PROTO_TCP_MAGIC
    static let versionMajor: UInt16 = 3
    static let versionMinor: UInt16 = 0
    static let size = 56

    var connectionType: LNetConnectionType
    var source: ProcessID
    var destinationNID: NID
    var destinationPID: UInt32
    var sourceIncarnation: UInt64
    /// The incarnation the sender last knew for the receiver (0 when unknown).
    var destinationIncarnation: UInt64

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic, endianness: .little)
        buffer.writeInteger(Self.versionMajor, endianness: .little)
        buffer.writeInteger(Self.versionMinor, endianness: .little)
        buffer.writeInteger(connectionType.rawValue, endianness: .little)
        buffer.writeInteger(source.pid, endianness: .little)
        buffer.writeInteger(source.nid.wire, endianness: .little)
        buffer.writeInteger(destinationNID.wire, endianness: .little)
        buffer.writeInteger(sourceIncarnation, endianness: .little)
        buffer.writeInteger(destinationIncarnation, endianness: .little)
        buffer.writeInteger(destinationPID, endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)
    }

    /// Decodes exactly `size` bytes; the buffer must hold at least that many.
    init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.size,
              let magic = buffer.readInteger(endianness: .little, as: UInt32.self),
              let major = buffer.readInteger(endianness: .little, as: UInt16.self),
              let minor = buffer.readInteger(endianness: .little, as: UInt16.self),
              let type = buffer.readInteger(endianness: .little, as: UInt32.self),
              let sourcePID = buffer.readInteger(endianness: .little, as: UInt32.self),
              let sourceNID = buffer.readInteger(endianness: .little, as: UInt64.self),
              let destinationNID = buffer.readInteger(endianness: .little, as: UInt64.self),
              let sourceIncarnation = buffer.readInteger(endianness: .little, as: UInt64.self),
              let destinationIncarnation = buffer.readInteger(endianness: .little, as: UInt64.self),
              let destinationPID = buffer.readInteger(endianness: .little, as: UInt32.self),
              buffer.readInteger(endianness: .little, as: UInt32.self) != nil
        else { throw .protocolError("truncated LNet hello") }
        guard magic == Self.magic else {
            throw .protocolError("bad LNet hello magic 0x\(String(magic, radix: 16))")
        }
        guard major == Self.versionMajor else {
            throw .protocolError("unsupported LNet protocol version \(major).\(minor)")
        }
        guard let connectionType = LNetConnectionType(rawValue: type) else {
            throw .protocolError("unknown LNet connection type \(type)")
        }
        guard let source = NID(validatingWire: sourceNID), let destination = NID(validatingWire: destinationNID)
        else { throw .protocolError("LNet hello carries an unknown network type") }
        self.connectionType = connectionType
        self.source = ProcessID(nid: source, pid: sourcePID)
        self.destinationNID = destination
        self.destinationPID = destinationPID
        self.sourceIncarnation = sourceIncarnation
        self.destinationIncarnation = destinationIncarnation
    }

    init(connectionType: LNetConnectionType, source: ProcessID, destinationNID: NID, destinationPID: UInt32,
         sourceIncarnation: UInt64, destinationIncarnation: UInt64) {
        self.connectionType = connectionType
        self.source = source
        self.destinationNID = destinationNID
        self.destinationPID = destinationPID
        self.sourceIncarnation = sourceIncarnation
        self.destinationIncarnation = destinationIncarnation
    }
}

/// The fixed header in front of every frame after the hello (`lnet_hdr` with
/// socklnd's framing folded in). A `noop` frame is a keepalive and has no payload.
public struct LNetHeader: Equatable, Sendable {
    static let magic: UInt32 = 0x4c4e_4554           // "LNET"
    static let version: UInt16 = 1
    static let size = 80

    enum FrameType: UInt16 {
        case noop = 1
        case message = 2
    }

    var frameType: FrameType = .message
    public var type: LNetMessageType
    public var payloadLength: UInt32
    public var source: ProcessID
    public var destination: ProcessID
    public var portal: UInt32
    /// PUT: an ACK was requested. REPLY: the status (negative errno) of the GET.
    public var flagsOrStatus: Int32
    public var matchBits: UInt64
    public var headerData: UInt64
    /// The initiator's cookie: where the ACK or REPLY must land.
    public var cookie: UInt64
    /// GET: how many bytes the initiator can take. ACK: how many bytes matched.
    public var length: UInt32

    static let ackRequested: Int32 = 1

    init(type: LNetMessageType, payloadLength: UInt32 = 0, source: ProcessID, destination: ProcessID,
         portal: UInt32 = 0, flagsOrStatus: Int32 = 0, matchBits: UInt64 = 0, headerData: UInt64 = 0,
         cookie: UInt64 = 0, length: UInt32 = 0) {
        self.type = type
        self.payloadLength = payloadLength
        self.source = source
        self.destination = destination
        self.portal = portal
        self.flagsOrStatus = flagsOrStatus
        self.matchBits = matchBits
        self.headerData = headerData
        self.cookie = cookie
        self.length = length
    }

    static func noop(from source: ProcessID, to destination: ProcessID) -> LNetHeader {
        var header = LNetHeader(type: .ack, source: source, destination: destination)
        header.frameType = .noop
        return header
    }

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(Self.magic, endianness: .little)
        buffer.writeInteger(Self.version, endianness: .little)
        buffer.writeInteger(frameType.rawValue, endianness: .little)
        buffer.writeInteger(type.rawValue, endianness: .little)
        buffer.writeInteger(payloadLength, endianness: .little)
        buffer.writeInteger(source.nid.wire, endianness: .little)
        buffer.writeInteger(destination.nid.wire, endianness: .little)
        buffer.writeInteger(source.pid, endianness: .little)
        buffer.writeInteger(destination.pid, endianness: .little)
        buffer.writeInteger(portal, endianness: .little)
        buffer.writeInteger(flagsOrStatus, endianness: .little)
        buffer.writeInteger(matchBits, endianness: .little)
        buffer.writeInteger(headerData, endianness: .little)
        buffer.writeInteger(cookie, endianness: .little)
        buffer.writeInteger(length, endianness: .little)
        buffer.writeInteger(UInt32(0), endianness: .little)
    }

    /// Decodes one header, checking magic, version, type and the payload cap.
    /// Any byte string gives a header or a typed error, never a trap.
    init(decoding buffer: inout ByteBuffer) throws(LustreError) {
        guard buffer.readableBytes >= Self.size,
              let magic = buffer.readInteger(endianness: .little, as: UInt32.self),
              let version = buffer.readInteger(endianness: .little, as: UInt16.self),
              let frame = buffer.readInteger(endianness: .little, as: UInt16.self),
              let type = buffer.readInteger(endianness: .little, as: UInt32.self),
              let payloadLength = buffer.readInteger(endianness: .little, as: UInt32.self),
              let sourceNID = buffer.readInteger(endianness: .little, as: UInt64.self),
              let destinationNID = buffer.readInteger(endianness: .little, as: UInt64.self),
              let sourcePID = buffer.readInteger(endianness: .little, as: UInt32.self),
              let destinationPID = buffer.readInteger(endianness: .little, as: UInt32.self),
              let portal = buffer.readInteger(endianness: .little, as: UInt32.self),
              let flags = buffer.readInteger(endianness: .little, as: Int32.self),
              let matchBits = buffer.readInteger(endianness: .little, as: UInt64.self),
              let headerData = buffer.readInteger(endianness: .little, as: UInt64.self),
              let cookie = buffer.readInteger(endianness: .little, as: UInt64.self),
              let length = buffer.readInteger(endianness: .little, as: UInt32.self),
              buffer.readInteger(endianness: .little, as: UInt32.self) != nil
        else { throw .protocolError("truncated LNet header") }
        guard magic == Self.magic else {
            throw .protocolError("bad LNet frame magic 0x\(String(magic, radix: 16))")
        }
        guard version == Self.version else { throw .protocolError("unsupported LNet frame version \(version)") }
        guard let frameType = FrameType(rawValue: frame) else {
            throw .protocolError("unknown LNet frame type \(frame)")
        }
        guard let messageType = LNetMessageType(rawValue: type) else {
            throw .protocolError("unknown LNet message type \(type)")
        }
        guard payloadLength <= LNetLimits.maxPayload else {
            throw .protocolError("LNet payload of \(payloadLength) bytes exceeds the \(LNetLimits.maxPayload) cap")
        }
        guard frameType == .message || payloadLength == 0 else {
            throw .protocolError("LNet keepalive with a payload")
        }
        guard let source = NID(validatingWire: sourceNID), let destination = NID(validatingWire: destinationNID)
        else { throw .protocolError("LNet header carries an unknown network type") }
        self.frameType = frameType
        self.type = messageType
        self.payloadLength = payloadLength
        self.source = ProcessID(nid: source, pid: sourcePID)
        self.destination = ProcessID(nid: destination, pid: destinationPID)
        self.portal = portal
        self.flagsOrStatus = flags
        self.matchBits = matchBits
        self.headerData = headerData
        self.cookie = cookie
        self.length = length
    }
}

/// One decoded frame: the header and, for PUT and REPLY, the payload bytes.
public struct LNetMessage: Sendable {
    public var header: LNetHeader
    public var payload: ByteBuffer
}
