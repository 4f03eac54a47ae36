import LibCFS

#if canImport(Glibc)
import Glibc
#endif

/// One frame of the admin socket protocol: a request from `lctl` or the reply of a daemon.
///
/// Wire form (little-endian), one request and one reply per connection:
///
/// ```
/// u32 magic    0x4d44414c ("LADM")
/// u16 version  1
/// u16 kind     0 request, 1 reply
/// i32 status   0, or a positive errno in a failed reply
/// u32 length   bytes of payload that follow (capped before anything is allocated)
/// payload:     u32 count, then count × (u32 length, UTF-8 bytes)
/// ```
///
/// A request's first field is the command (`dl`, `get_param`, `set_param`, `list_param`, `dk`,
/// `clear`, `info`, `check_param`, `set_param_perm`, `del_param_perm`), the rest its arguments; a reply's fields are the command's answer, or one
/// field with the error message when `status` is not 0.
public struct AdminMessage: Sendable, Equatable {
    /// Request or reply.
    public enum Kind: UInt16, Sendable {
        /// From `lctl` to a daemon.
        case request = 0
        /// From a daemon to `lctl`.
        case reply = 1
    }

    /// `"LADM"` read as a little-endian word.
    public static let magic: UInt32 = 0x4d44_414c
    /// The protocol version this build speaks.
    public static let version: UInt16 = 1
    /// Bytes before the payload.
    public static let headerSize = 16
    /// The largest request payload a daemon accepts.
    public static let maxRequestPayload = 1 << 20
    /// The largest reply payload `lctl` accepts (a full `debug_mb` ring fits).
    public static let maxReplyPayload = 1 << 30

    /// Request or reply.
    public var kind: Kind
    /// 0, or the errno of a failed reply.
    public var status: Int32
    /// The command and its arguments, or the answer.
    public var fields: [String]

    /// A frame.
    public init(kind: Kind, status: Int32 = 0, fields: [String]) {
        self.kind = kind
        self.status = status
        self.fields = fields
    }

    /// A request: `command` then its arguments.
    public static func request(_ command: String, _ arguments: [String] = []) -> AdminMessage {
        AdminMessage(kind: .request, fields: [command] + arguments)
    }

    /// A successful reply.
    public static func reply(_ fields: [String]) -> AdminMessage {
        AdminMessage(kind: .reply, fields: fields)
    }

    /// A failed reply carrying `error`'s errno and message.
    public static func failure(_ error: LustreError) -> AdminMessage {
        AdminMessage(kind: .reply, status: error.errno, fields: [error.context.isEmpty ? error.strerror : error.context])
    }

    /// The frame's bytes.
    public func encoded() -> [UInt8] {
        var payload: [UInt8] = []
        payload.reserveCapacity(4 + fields.reduce(0) { $0 + 4 + $1.utf8.count })
        Self.put(UInt32(fields.count), into: &payload)
        for field in fields {
            Self.put(UInt32(field.utf8.count), into: &payload)
            payload.append(contentsOf: field.utf8)
        }
        var frame: [UInt8] = []
        frame.reserveCapacity(Self.headerSize + payload.count)
        Self.put(Self.magic, into: &frame)
        Self.put(UInt16(Self.version), into: &frame)
        Self.put(kind.rawValue, into: &frame)
        Self.put(UInt32(bitPattern: status), into: &frame)
        Self.put(UInt32(payload.count), into: &frame)
        frame.append(contentsOf: payload)
        return frame
    }

    /// The header's fields once checked: the kind, the status and how many payload bytes follow.
    ///
    /// - Throws: `EPROTO` for a bad magic, version or kind; `EMSGSIZE` for a payload above
    ///   `maxPayload`.
    public static func decodeHeader(_ header: [UInt8], maxPayload: Int) throws(LustreError)
        -> (kind: Kind, status: Int32, length: Int) {
        guard header.count == headerSize else { throw .protocolError("admin header of \(header.count) bytes") }
        let magic = get32(header, 0)
        guard magic == Self.magic else {
            throw .protocolError("bad admin magic 0x\(String(magic, radix: 16)) (not an lctl admin frame)")
        }
        let version = UInt16(header[4]) | UInt16(header[5]) << 8
        guard version == Self.version else { throw .protocolError("admin protocol version \(version), expected \(Self.version)") }
        let rawKind = UInt16(header[6]) | UInt16(header[7]) << 8
        guard let kind = Kind(rawValue: rawKind) else { throw .protocolError("bad admin frame kind \(rawKind)") }
        let status = Int32(bitPattern: get32(header, 8))
        let length = Int(get32(header, 12))
        guard length <= maxPayload else {
            throw LustreError(errno: EMSGSIZE, "admin payload of \(length) bytes exceeds \(maxPayload)")
        }
        guard length >= 4 else { throw .protocolError("admin payload of \(length) bytes has no field count") }
        return (kind, status, length)
    }

    /// The fields of a payload.
    ///
    /// - Throws: `EPROTO` if a length runs past the end, bytes are left over, or a field is not
    ///   UTF-8.
    public static func decodeFields(_ payload: [UInt8]) throws(LustreError) -> [String] {
        guard payload.count >= 4 else { throw .protocolError("admin payload too short") }
        let count = Int(get32(payload, 0))
        // Each field takes at least its 4-byte length: a count above that is a lie.
        guard count <= (payload.count - 4) / 4 else {
            throw .protocolError("admin frame claims \(count) fields in \(payload.count) bytes")
        }
        var fields: [String] = []
        fields.reserveCapacity(count)
        var offset = 4
        for i in 0..<count {
            guard payload.count - offset >= 4 else { throw .protocolError("admin field \(i) truncated") }
            let length = Int(get32(payload, offset))
            offset += 4
            guard length <= payload.count - offset else {
                throw .protocolError("admin field \(i) of \(length) bytes runs past the frame")
            }
            let bytes = payload[offset..<(offset + length)]
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw .protocolError("admin field \(i) is not UTF-8")
            }
            fields.append(text)
            offset += length
        }
        guard offset == payload.count else {
            throw .protocolError("\(payload.count - offset) stray bytes after the admin fields")
        }
        return fields
    }

    /// Decodes a whole frame (tests, tools holding the bytes in memory).
    public init(decoding bytes: [UInt8], maxPayload: Int = AdminMessage.maxReplyPayload) throws(LustreError) {
        guard bytes.count >= Self.headerSize else { throw .protocolError("admin frame of \(bytes.count) bytes") }
        let header = try Self.decodeHeader(Array(bytes[..<Self.headerSize]), maxPayload: maxPayload)
        guard bytes.count - Self.headerSize == header.length else {
            throw .protocolError("admin frame holds \(bytes.count - Self.headerSize) payload bytes, header says \(header.length)")
        }
        self.init(kind: header.kind, status: header.status,
                  fields: try Self.decodeFields(Array(bytes[Self.headerSize...])))
    }

    private static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    private static func get32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
            | UInt32(bytes[offset + 3]) << 24
    }
}
