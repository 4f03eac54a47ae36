import LibCFS
import NIOCore

/// The grant fields of an `OST_WRITE` (Lustre's `o_grant`/`o_undirty` in the request's obdo and
/// `o_grant` in the reply's), carried here as a buffer of their own: the request's third
/// buffer, the reply's second.
///
/// Grant is space an OST reserves for one client's cached writes: a client caches a write only
/// against grant it holds, so the OST has room for every write it acknowledged, whatever other
/// clients write meanwhile; without grant it writes through and hears `ENOSPC` in `write(2)`.
public enum OSTGrant {
    /// What the client says with a write.
    public struct Request: Equatable, Sendable {
        /// Bytes of this RPC the client cached against its grant: the OST takes them off the grant
        /// it holds for the client (they are on its disk now).
        public var fromGrant: UInt64
        /// The grant the client would like to hold (about its `max_dirty_mb`): the OST tops the
        /// client's grant up to it as far as its free space allows.
        public var wanted: UInt64
        /// Grant the client let go since its last write (`o_dropped`: unused for too long): the
        /// OST takes it off what it holds for the client.
        public var dropped: UInt64

        public static let wireSize = 24

        public init(fromGrant: UInt64, wanted: UInt64, dropped: UInt64 = 0) {
            self.fromGrant = fromGrant
            self.wanted = wanted
            self.dropped = dropped
        }

        public func encoded() -> ByteBuffer { OSTGrant.encode([fromGrant, wanted, dropped]) }

        public init(decoding buffer: ByteBuffer) throws(LustreError) {
            let words = try OSTGrant.decode(buffer, size: Self.wireSize, "grant request")
            self.init(fromGrant: words[0], wanted: words[1], dropped: words[2])
        }
    }

    /// What the OST answers to a write.
    public struct Reply: Equatable, Sendable {
        /// Grant added for the client by this write (bytes).
        public var granted: UInt64
        /// The OST's grant accounting this grant belongs to, new at each start of the target:
        /// a client seeing another one knows the grant it held died with the old one.
        public var epoch: UInt64

        public static let wireSize = 16

        public init(granted: UInt64, epoch: UInt64) {
            self.granted = granted
            self.epoch = epoch
        }

        public func encoded() -> ByteBuffer { OSTGrant.encode([granted, epoch]) }

        public init(decoding buffer: ByteBuffer) throws(LustreError) {
            let words = try OSTGrant.decode(buffer, size: Self.wireSize, "grant reply")
            self.init(granted: words[0], epoch: words[1])
        }
    }

    /// Both records are little-endian 64-bit words and nothing else.
    private static func encode(_ words: [UInt64]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: words.count * 8)
        for word in words { buffer.writeInteger(word, endianness: .little) }
        return buffer
    }

    private static func decode(_ buffer: ByteBuffer, size: Int, _ what: String) throws(LustreError) -> [UInt64] {
        var buffer = buffer
        guard buffer.readableBytes == size else { throw .protocolError("\(what) of \(buffer.readableBytes) bytes") }
        return (0..<size / 8).map { _ in buffer.readInteger(endianness: .little, as: UInt64.self)! }
    }
}
