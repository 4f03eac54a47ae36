import LibCFS
import NIOCore
import Testing
@testable import ObdClass

#if canImport(Glibc)
import Glibc
#endif

@Suite("MDS_BATCH requests and replies")
struct MDTBatchTests {
    let parent = LustreFID(sequence: 0x2_0000_0400, objectID: 7)

    @Test("a batch of lookups and getattrs round-trips, each record intact")
    func requestRoundTrip() throws {
        let lookup = MDTLookupRequest(credentials: MDTCredentials(uid: 5, gid: 6, groups: [7, 8]), parent: parent, name: "f000001")
        let getattr = MDTGetattrRequest(credentials: .root, fid: parent)
        let batch = MDTBatchRequest(items: [MDTBatchRequest.Item(lookup), MDTBatchRequest.Item(getattr)])
        let decoded = try MDTBatchRequest(decoding: batch.encoded())
        #expect(decoded == batch)
        #expect(decoded.items.map(\.opcode) == [.getattrName, .getattr])
        #expect(try MDTLookupRequest(decodingRequest: decoded.items[0].record) == lookup)
        #expect(try MDTGetattrRequest(decodingRequest: decoded.items[1].record) == getattr)
    }

    @Test("a reply keeps each item's status and buffer, in order")
    func replyRoundTrip() throws {
        var attributes = MDTAttributes()
        attributes.fid = parent
        let reply = MDTBatchReply(items: [
            MDTBatchReply.Item(status: 0, buffer: MDTBodyReply(attributes: attributes).encoded()),
            MDTBatchReply.Item(status: -ENOENT),
        ])
        let decoded = try MDTBatchReply(decoding: reply.encoded())
        #expect(decoded == reply)
        var body = decoded.items[0].buffer
        #expect(try MDTBodyReply(decoding: &body).attributes.fid == parent)
        #expect(decoded.items[1].status == -ENOENT)
    }

    @Test("wrong magic, too many items, changes, lying lengths and stray bytes are refused")
    func refusesBadInput() {
        func header(_ magic: UInt32, _ count: UInt32) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(magic, endianness: .little)
            buffer.writeInteger(count, endianness: .little)
            return buffer
        }
        func errno(_ buffer: ByteBuffer) -> Int32? {
            do {
                _ = try MDTBatchRequest(decoding: buffer)
                return nil
            } catch {
                return error.errno
            }
        }
        #expect(errno(header(0xBADE_0002, 0)) == EPROTO)
        #expect(errno(header(MDTBatchRequest.magic, UInt32(MDTWireLimits.maxBatchItems + 1))) == EPROTO)
        var reint = header(MDTBatchRequest.magic, 1)
        reint.writeInteger(MDTOpcode.reint.rawValue, endianness: .little)
        reint.writeInteger(UInt32(0), endianness: .little)
        #expect(errno(reint) == EOPNOTSUPP)
        var nested = header(MDTBatchRequest.magic, 1)
        nested.writeInteger(MDTOpcode.batch.rawValue, endianness: .little)
        nested.writeInteger(UInt32(0), endianness: .little)
        #expect(errno(nested) == EOPNOTSUPP)
        var lying = header(MDTBatchRequest.magic, 1)
        lying.writeInteger(MDTOpcode.getattr.rawValue, endianness: .little)
        lying.writeInteger(UInt32.max, endianness: .little)
        lying.writeBytes([1, 2, 3])
        #expect(errno(lying) == EPROTO)
        var stray = MDTBatchRequest(items: []).encoded()
        stray.writeInteger(UInt8(0))
        #expect(errno(stray) == EPROTO)
        #expect(errno(header(MDTBatchRequest.magic, 2)) == EPROTO)
        #expect(throws: LustreError.self) { try MDTBatchReply(decoding: header(MDTBatchRequest.magic, 0)) }
    }
}
