import Glibc
import LibCFS
import Testing
@testable import ObdClass

/// A record with a distinct value in every field, so a misplaced field shows.
private func sampleMountData() throws -> MountData {
    var data = MountData()
    data.featureCompat = 0x0102_0304
    data.featureROCompat = 0x0506_0708
    data.featureIncompat = 0x090a_0b0c
    data.configVersion = 7
    data.flags = [.ost, .virgin, .update]
    data.index = 0x2a
    data.mountType = .ldiskfs
    data.fsname = "testfs"
    data.svname = "testfs-OST002a"
    data.uuid = "testfs-OST002a_UUID"
    data.comment = "rack 4"
    data.mountOptions = "errors=remount-ro"
    try data.addParameter(.init(key: "mgsnode", value: "127.0.0.1@tcp:127.0.0.2@tcp"))
    try data.addParameter(.init(key: "mgsnode", value: "127.0.0.3@tcp,10.0.0.3@tcp1"))
    try data.addParameter(.init(key: "sys.timeout", value: "40"))
    return data
}

private func word(_ bytes: [UInt8], at offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
}

private func cString(_ bytes: [UInt8], _ field: (offset: Int, size: Int)) -> String {
    let slice = bytes[field.offset..<(field.offset + field.size)]
    return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
}

@Suite("MountData")
struct MountDataTests {
    @Test("encode then decode gives the same record")
    func roundTrip() throws {
        let data = try sampleMountData()
        let bytes = try data.encode()
        #expect(try MountData(decoding: bytes) == data)
        #expect(try MountData(decoding: bytes).encode() == bytes)
    }

    @Test("a default record round-trips and carries Lustre's defaults")
    func defaultsRoundTrip() throws {
        let data = MountData()
        #expect(data.configVersion == 1)
        #expect(data.index == MountData.unassignedIndex)
        #expect(data.mountType == .ldiskfs)
        #expect(try MountData(decoding: data.encode()) == data)
    }

    @Test("size and field offsets are those of Lustre's struct lustre_disk_data")
    func layoutMatchesLustre() throws {
        #expect(MountData.size == 12288)
        #expect(MountData.Layout.fsname.offset == 32 && MountData.Layout.svname.offset == 96)
        #expect(MountData.Layout.uuid == (offset: 160, size: 40))
        #expect(MountData.Layout.userdata == (offset: 200, size: 824))
        #expect(MountData.Layout.padding == (offset: 1024, size: 3072))
        #expect(MountData.Layout.mountOptions == (offset: 4096, size: 4096))
        #expect(MountData.Layout.params == (offset: 8192, size: 4096))

        let data = try sampleMountData()
        let bytes = try data.encode()
        #expect(bytes.count == 12288)
        #expect(Array(bytes[0..<4]) == [0x01, 0x00, 0xd0, 0x1d], "ldd_magic 0x1dd00001, little-endian")
        #expect(word(bytes, at: 4) == 0x0102_0304)
        #expect(word(bytes, at: 8) == 0x0506_0708)
        #expect(word(bytes, at: 12) == 0x090a_0b0c)
        #expect(word(bytes, at: 16) == 7)
        #expect(word(bytes, at: 20) == 0x62, "LDD_F_SV_TYPE_OST | LDD_F_VIRGIN | LDD_F_UPDATE")
        #expect(word(bytes, at: 24) == 0x2a)
        #expect(word(bytes, at: 28) == 1, "LDD_MT_LDISKFS")
        #expect(cString(bytes, (32, 64)) == "testfs")
        #expect(cString(bytes, (96, 64)) == "testfs-OST002a")
        #expect(cString(bytes, (160, 40)) == "testfs-OST002a_UUID")
        #expect(cString(bytes, (200, 824)) == "rack 4")
        #expect(bytes[1024..<4096].allSatisfy { $0 == 0 })
        #expect(cString(bytes, (4096, 4096)) == "errors=remount-ro")
        #expect(cString(bytes, (8192, 4096))
            == " mgsnode=127.0.0.1@tcp:127.0.0.2@tcp mgsnode=127.0.0.3@tcp,10.0.0.3@tcp1 sys.timeout=40")
    }

    @Test("flag values are Lustre's LDD_F_* constants")
    func flagValues() {
        #expect(MountData.Flags.mdt.rawValue == 0x0001)
        #expect(MountData.Flags.ost.rawValue == 0x0002)
        #expect(MountData.Flags.mgs.rawValue == 0x0004)
        #expect(MountData.Flags.needIndex.rawValue == 0x0010)
        #expect(MountData.Flags.virgin.rawValue == 0x0020)
        #expect(MountData.Flags.update.rawValue == 0x0040)
        #expect(MountData.Flags.rewriteLDD.rawValue == 0x0080)
        #expect(MountData.Flags.writeconf.rawValue == 0x0100)
        #expect(MountData.Flags([.mdt, .mgs, .virgin, .update]).names == "MDT MGS first_time update ")
    }

    @Test("truncated input is an error, at every length")
    func truncatedIsError() throws {
        let bytes = try sampleMountData().encode()
        for length in [0, 1, 3, 4, 100, 1024, 8192, 12287] {
            #expect(throws: LustreError.self) { try MountData(decoding: bytes.prefix(length)) }
        }
        #expect(throws: LustreError.self) { try MountData(decoding: bytes + [0]) }
    }

    @Test("a wrong magic is an error that says so")
    func badMagic() throws {
        var bytes = try sampleMountData().encode()
        bytes[0] ^= 0xff
        let error = #expect(throws: LustreError.self) { try MountData(decoding: bytes) }
        #expect(error?.errno == EINVAL)
        #expect(error?.context.contains("magic") == true)
        var swapped = try sampleMountData().encode()
        swapped.replaceSubrange(0..<4, with: [0x1d, 0xd0, 0x00, 0x01])
        let byteOrder = #expect(throws: LustreError.self) { try MountData(decoding: swapped) }
        #expect(byteOrder?.context.contains("byte order") == true)
    }

    @Test("a string field without its NUL is an error, not an overrun")
    func unterminatedString() throws {
        var bytes = try sampleMountData().encode()
        for offset in 32..<96 { bytes[offset] = 0x41 }
        #expect(throws: LustreError.self) { try MountData(decoding: bytes) }
        var params = try sampleMountData().encode()
        for offset in 8192..<12288 { params[offset] = 0x20 }
        #expect(throws: LustreError.self) { try MountData(decoding: params) }
    }

    @Test("invalid UTF-8 in a string field is an error")
    func invalidUTF8() throws {
        var bytes = try sampleMountData().encode()
        bytes[96] = 0xff
        #expect(throws: LustreError.self) { try MountData(decoding: bytes) }
    }

    @Test("random and mutated bytes give a value or an error, never a trap")
    func fuzzNeverTraps() throws {
        var generator = SeededGenerator(seed: 0x1dd0_0001)
        let valid = try sampleMountData().encode()
        var decoded = 0
        for round in 0..<2000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                let length = [0, 4, 12288, Int.random(in: 0..<13000, using: &generator)][round % 8 / 2]
                bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if bytes.count >= 4 && round % 4 == 0 { bytes.replaceSubrange(0..<4, with: valid[0..<4]) }
            } else {
                bytes = valid
                for _ in 0..<Int.random(in: 1...16, using: &generator) {
                    bytes[Int.random(in: 4..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            }
            if let data = try? MountData(decoding: bytes) {
                decoded += 1
                // Whatever decodes must encode again and decode to the same value.
                #expect(try MountData(decoding: data.encode()) == data)
            }
        }
        #expect(decoded > 0)
    }

    @Test("strings too long for their field are refused at encode")
    func encodeRefusesOverlongFields() {
        var data = MountData()
        data.fsname = String(repeating: "f", count: 64)
        #expect(throws: LustreError.self) { try data.encode() }
        data.fsname = String(repeating: "f", count: 63)
        #expect(throws: Never.self) { try data.encode() }
        data.comment = "a\0b"
        #expect(throws: LustreError.self) { try data.encode() }
    }

    @Test("parameters: repeated mgsnode entries, failover ':' and NID ','")
    func parameterAccessors() throws {
        let data = try sampleMountData()
        #expect(data.parameters.map(\.description)
            == ["mgsnode=127.0.0.1@tcp:127.0.0.2@tcp", "mgsnode=127.0.0.3@tcp,10.0.0.3@tcp1", "sys.timeout=40"])
        #expect(data.parameterDictionary["mgsnode"]?.count == 2)
        #expect(data.parameterDictionary["sys.timeout"] == ["40"])
        #expect(data.values(of: "mgsnode").first == "127.0.0.1@tcp:127.0.0.2@tcp")
        #expect(data.mgsNodes == [["127.0.0.1@tcp"], ["127.0.0.2@tcp"], ["127.0.0.3@tcp", "10.0.0.3@tcp1"]])
    }

    @Test("replacing a parameter drops its old values; removing drops all")
    func replaceAndRemoveParameters() throws {
        var data = try sampleMountData()
        try data.replaceParameter(.init(key: "sys.timeout", value: "50"))
        #expect(data.values(of: "sys.timeout") == ["50"])
        #expect(data.values(of: "mgsnode").count == 2)
        let removed = data.removeParameters(key: "mgsnode")
        let removedAgain = data.removeParameters(key: "mgsnode")
        #expect(removed)
        #expect(!removedAgain)
        #expect(data.rawParameters == " sys.timeout=50")
    }

    @Test("parameters that would overflow ldd_params are refused with E2BIG")
    func parameterOverflow() throws {
        var data = MountData()
        let value = String(repeating: "x", count: 1000)
        for _ in 0..<4 { try data.addParameter(.init(key: "k", value: value)) }
        let error = #expect(throws: LustreError.self) { try data.addParameter(.init(key: "k", value: value)) }
        #expect(error?.errno == E2BIG)
        #expect(throws: Never.self) { try data.encode() }
    }

    @Test("a parameter must be KEY=VALUE without spaces")
    func parameterParsing() throws {
        #expect(try MountData.Parameter(parsing: "lov.stripesize=2M") == .init(key: "lov.stripesize", value: "2M"))
        #expect(try MountData.Parameter(parsing: "a=b=c").value == "b=c")
        for bad in ["", "novalue", "=x", "a=b c"] {
            #expect(throws: LustreError.self) { try MountData.Parameter(parsing: bad) }
        }
    }

    @Test("service kinds and target name come from flags and svname")
    func accessors() throws {
        var data = try sampleMountData()
        #expect(data.isOST && !data.isMDT && !data.isMGS)
        #expect(data.serviceTypes == .ost)
        #expect(data.targetName == (try TargetName(fsname: "testfs", kind: .ost, index: 0x2a)))
        data.svname = "testfs:MDT0001"
        #expect(data.targetName?.description == "testfs-MDT0001")
        data.svname = "MGS"
        #expect(data.targetName == nil)
    }

    @Test("the report is Lustre's print_ldd block")
    func report() throws {
        var data = MountData()
        data.flags = [.ost, .virgin, .update]
        data.index = 0
        data.fsname = "testfs"
        data.svname = "testfs-OST0000"
        data.mountOptions = "errors=remount-ro"
        try data.addParameter(.init(key: "mgsnode", value: "127.0.0.1@tcp"))
        #expect(data.report(heading: "Read previous values") == """

               Read previous values:
            Target:     testfs-OST0000
            Index:      0
            Lustre FS:  testfs
            Mount type: ldiskfs
            Flags:      0x62
                          (OST first_time update )
            Persistent mount opts: errors=remount-ro
            Parameters: mgsnode=127.0.0.1@tcp


            """)
        data.index = MountData.unassignedIndex
        #expect(data.report(heading: "x").contains("Index:      unassigned\n"))
    }
}

/// splitmix64: the same sequence on every run, so a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
