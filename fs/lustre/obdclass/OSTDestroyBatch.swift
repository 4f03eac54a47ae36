import LibCFS
import NIOCore

/// Several objects in one `OST_DESTROY`: the MDS's OSP drains its destroy log a batch per RPC
/// instead of an RPC per object (each RPC costs both servers far more CPU than the unlink).
///
/// Wire form, compatible both ways: buffer 0 is the first object's obdo, as in a single
/// destroy; buffer 1 lists the others (`OSTObjectID`s back to back). The reply's buffer 1 holds
/// one status per object, the first included (0 or a negative errno, little-endian `Int32`),
/// and its transno covers them all. A server that does not know the list destroys the first
/// object only and answers without buffer 1: the client then destroys the rest one by one.
public enum OSTDestroyBatch {
    /// Objects in one RPC at most.
    public static let maxObjects = 256

    /// Buffer 1 of a request destroying `ids` (the first travels in buffer 0).
    public static func encodeRest(of ids: [OSTObjectID]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: max(0, ids.count - 1) * OSTObjectID.wireSize)
        for id in ids.dropFirst() { id.encode(into: &buffer) }
        return buffer
    }

    /// The objects of a request: `first` from buffer 0, then those `list` (buffer 1) names.
    public static func decode(first: OSTObjectID, list: ByteBuffer) throws(LustreError) -> [OSTObjectID] {
        var list = list
        guard list.readableBytes % OSTObjectID.wireSize == 0 else {
            throw .protocolError("destroy list of \(list.readableBytes) bytes is not whole object ids")
        }
        let count = 1 + list.readableBytes / OSTObjectID.wireSize
        guard count <= maxObjects else {
            throw .invalid("destroy of \(count) objects in one RPC exceeds \(maxObjects)")
        }
        var ids = [first]
        ids.reserveCapacity(count)
        while list.readableBytes > 0 { ids.append(try OSTObjectID(decoding: &list)) }
        return ids
    }

    /// The reply's buffer 1.
    public static func encode(statuses: [Int32]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: statuses.count * 4)
        for status in statuses { buffer.writeInteger(status, endianness: .little) }
        return buffer
    }

    /// The statuses in a reply's buffer 1, one per object asked for.
    public static func decode(statuses buffer: ByteBuffer, count: Int) throws(LustreError) -> [Int32] {
        var buffer = buffer
        guard buffer.readableBytes == count * 4 else {
            throw .protocolError("destroy reply has \(buffer.readableBytes / 4) statuses for \(count) objects")
        }
        return (0..<count).map { _ in buffer.readInteger(endianness: .little, as: Int32.self) ?? 0 }
    }
}
