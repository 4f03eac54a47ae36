import LibCFS
import NIOCore
import Testing
@testable import ObdClass

@Suite("MDT setattr and directory records")
struct MDTWireRecordTests {
    @Test("a setattr round-trips with every field")
    func setattrRoundTrip() throws {
        let change = MDTSetattr(valid: [.mode, .uid, .gid, .size, .atime, .mtimeNow], mode: 0o4755, uid: 1000,
                                gid: 100, size: 1 << 40, atime: MDTTime(seconds: 1_700_000_000, nanoseconds: 5),
                                mtime: MDTTime(seconds: -3, nanoseconds: 999_999_999), ctime: MDTTime(seconds: 7))
        var buffer = ByteBuffer()
        change.encode(into: &buffer)
        #expect(buffer.readableBytes == MDTSetattr.wireSize)
        #expect(try MDTSetattr(decoding: &buffer) == change)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a setattr with unknown valid bits or truncated is refused")
    func setattrRefusesBadInput() {
        var buffer = ByteBuffer()
        MDTSetattr(valid: .mode).encode(into: &buffer)
        buffer.setInteger(UInt32(0x8000_0000), at: 0, endianness: .little)
        #expect(throws: LustreError.self) { try MDTSetattr(decoding: &buffer) }
        var short = ByteBuffer(bytes: [1, 0, 0, 0])
        #expect(throws: LustreError.self) { try MDTSetattr(decoding: &short) }
    }

    @Test("a directory page round-trips its entries and end flag")
    func dirPageRoundTrip() throws {
        let page = MDTDirPage(entries: [
            MDTDirEntry(name: "a", fid: LustreFID(sequence: 0x2_0000_0400, objectID: 1), type: 8, cookie: 12345),
            MDTDirEntry(name: String(repeating: "é", count: 100), fid: LustreFID(sequence: 0x2_0000_0401, objectID: 9),
                        type: 4, cookie: .max),
        ], end: true)
        var buffer = ByteBuffer()
        page.encode(into: &buffer)
        #expect(try MDTDirPage(decoding: &buffer) == page)
        #expect(buffer.readableBytes == 0)
        var empty = ByteBuffer()
        MDTDirPage(entries: [], end: false).encode(into: &empty)
        #expect(try MDTDirPage(decoding: &empty) == MDTDirPage(entries: [], end: false))
    }

    @Test("a page whose count lies or whose entry names are bad is refused")
    func dirPageRefusesBadInput() {
        var lying = ByteBuffer()
        lying.writeInteger(UInt32(1000), endianness: .little)
        lying.writeInteger(UInt32(0), endianness: .little)
        #expect(throws: LustreError.self) { try MDTDirPage(decoding: &lying) }
        var emptyName = ByteBuffer()
        LustreFID.zero.encode(into: &emptyName)
        emptyName.writeInteger(UInt64(0), endianness: .little)
        emptyName.writeInteger(UInt8(8))
        emptyName.writeInteger(UInt16(0), endianness: .little)
        #expect(throws: LustreError.self) { try MDTDirEntry(decoding: &emptyName) }
        var badUTF8 = ByteBuffer()
        LustreFID.zero.encode(into: &badUTF8)
        badUTF8.writeInteger(UInt64(0), endianness: .little)
        badUTF8.writeInteger(UInt8(8))
        badUTF8.writeInteger(UInt16(1), endianness: .little)
        badUTF8.writeInteger(UInt8(0xff))
        #expect(throws: LustreError.self) { try MDTDirEntry(decoding: &badUTF8) }
    }
}
