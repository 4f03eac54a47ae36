import LibCFS
import NIOCore
import Testing
@testable import ObdClass

@Suite("TargetName")
struct TargetNameTests {
    @Test("prints the index in 4 hex digits", arguments: [
        (TargetName.Kind.ost, UInt32(0), "testfs-OST0000"),
        (.ost, 0x1f, "testfs-OST001f"),
        (.mdt, 1, "testfs-MDT0001"),
        (.ost, 0xffff, "testfs-OSTffff"),
    ])
    func printsLustreName(kind: TargetName.Kind, index: UInt32, expected: String) throws {
        let name = try TargetName(fsname: "testfs", kind: kind, index: index)
        #expect(name.description == expected)
        #expect(name.uuid == expected + "_UUID")
    }

    @Test("parse and print round-trip, with or without _UUID")
    func roundTrip() throws {
        for text in ["testfs-OST0000", "lustre-MDT0003", "a_b-OST00ff", "fs8chars-OST1234"] {
            let name = try TargetName(parsing: text)
            #expect(name.description == text)
            #expect(try TargetName(parsing: name.uuid) == name)
        }
    }

    @Test("bad names and filesystem names are refused", arguments: [
        "testfs", "testfs-OST", "testfs-OST00000", "testfs-XYZ0000", "-OST0000", "toolongfs-OST0000",
        "testfs-OSTzzzz", "te.st-OST0000", "",
    ])
    func refusesBadNames(text: String) {
        #expect(throws: LustreError.self) { try TargetName(parsing: text) }
    }

    @Test("index above 65535 is refused")
    func indexRange() {
        #expect(throws: LustreError.self) { try TargetName(fsname: "testfs", kind: .ost, index: 0x10000) }
    }
}

@Suite("LustreFID")
struct LustreFIDTests {
    @Test("prints and parses Lustre's [seq:oid:ver]")
    func printAndParse() throws {
        let fid = LustreFID(sequence: LustreFID.firstNormalSequence, objectID: 1)
        #expect(fid.description == "[0x200000400:0x1:0x0]")
        #expect(try LustreFID(parsing: "[0x200000400:0x1:0x0]") == fid)
        #expect(try LustreFID(parsing: "0x200000400:0x1:0x0") == fid)
        let big = LustreFID(sequence: .max, objectID: .max, version: .max)
        #expect(try LustreFID(parsing: big.description) == big)
    }

    @Test("malformed FIDs are refused", arguments: [
        "", "[]", "[0x1:0x2]", "[0x1:0x2:0x3:0x4]", "[0xg:0x1:0x0]", "[0x1:0x100000000:0x0]", "[0x1::0x0]",
    ])
    func refusesMalformed(text: String) {
        #expect(throws: LustreError.self) { try LustreFID(parsing: text) }
    }

    @Test("wire round trip is 16 little-endian bytes; short input is an error")
    func wireRoundTrip() throws {
        let fid = LustreFID(sequence: 0x2_0000_0400, objectID: 0x1234, version: 2)
        var buffer = ByteBuffer()
        fid.encode(into: &buffer)
        #expect(buffer.readableBytes == LustreFID.wireSize)
        #expect(buffer.getBytes(at: 0, length: 8) == [0x00, 0x04, 0x00, 0x00, 0x02, 0, 0, 0])
        var copy = buffer
        #expect(try LustreFID(decoding: &copy) == fid)
        var short = buffer.getSlice(at: 0, length: 15)!
        #expect(throws: LustreError.self) { try LustreFID(decoding: &short) }
    }

    @Test("FIDs order by sequence, then object id, then version")
    func ordering() {
        let a = LustreFID(sequence: 1, objectID: 9)
        let b = LustreFID(sequence: 2, objectID: 0)
        #expect(a < b)
        #expect(LustreFID(sequence: 2, objectID: 1) > b)
    }
}

@Suite("OSTObjectID")
struct OSTObjectIDTests {
    @Test("objects live at O/<seq>/d<oid % 32>/<oid>")
    func path() {
        #expect(OSTObjectID(objectID: 34).path == "O/0/d2/34")
        #expect(OSTObjectID(sequence: 0x2_0000_0400, objectID: 32).path == "O/8589935616/d0/32")
        #expect(OSTObjectID(objectID: 34).description == "0x0:34")
    }

    @Test("wire round trip; short input is an error")
    func wireRoundTrip() throws {
        let id = OSTObjectID(sequence: 7, objectID: 0xdead_beef)
        var buffer = ByteBuffer()
        id.encode(into: &buffer)
        #expect(buffer.readableBytes == OSTObjectID.wireSize)
        var copy = buffer
        #expect(try OSTObjectID(decoding: &copy) == id)
        var short = buffer.getSlice(at: 0, length: 8)!
        #expect(throws: LustreError.self) { try OSTObjectID(decoding: &short) }
    }
}
