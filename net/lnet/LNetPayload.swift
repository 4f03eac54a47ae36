import NIOCore

/// The bytes that follow an LNet header on the wire: none, one buffer, or several written back
/// to back (a bulk gathered from its writer's own buffers, so its bytes are not first copied
/// into one; NIO hands the buffers to one `writev`).
enum LNetPayload: Sendable {
    case none
    case one(ByteBuffer)
    case many([ByteBuffer])

    /// `parts` as a payload: one buffer is `.one`.
    init(parts: [ByteBuffer]) {
        switch parts.count {
        case 0: self = .none
        case 1: self = .one(parts[0])
        default: self = .many(parts)
        }
    }

    var readableBytes: Int {
        switch self {
        case .none: 0
        case .one(let buffer): buffer.readableBytes
        case .many(let parts): parts.reduce(0) { $0 + $1.readableBytes }
        }
    }

    /// Calls `body` with each non-empty buffer, in order (no array made for one buffer: every
    /// frame sent passes here).
    func forEachPart(_ body: (ByteBuffer) -> Void) {
        switch self {
        case .none: break
        case .one(let buffer): if buffer.readableBytes > 0 { body(buffer) }
        case .many(let parts): for part in parts where part.readableBytes > 0 { body(part) }
        }
    }

    /// One buffer with every byte (a copy only for `.many`).
    var flattened: ByteBuffer {
        switch self {
        case .none: return ByteBuffer()
        case .one(let buffer): return buffer
        case .many(let parts):
            var buffer = ByteBufferAllocator().buffer(capacity: readableBytes)
            for part in parts { buffer.writeImmutableBuffer(part) }
            return buffer
        }
    }

    /// The first `length` bytes of `parts`, as slices of them (no copy).
    static func prefix(of parts: [ByteBuffer], length: Int) -> LNetPayload {
        var left = length
        var slices: [ByteBuffer] = []
        for part in parts where left > 0 {
            let take = min(left, part.readableBytes)
            guard take > 0 else { continue }
            slices.append(part.getSlice(at: part.readerIndex, length: take)!)
            left -= take
        }
        return LNetPayload(parts: slices)
    }
}
