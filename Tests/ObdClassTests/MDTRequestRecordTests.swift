import LibCFS
import NIOCore
import Testing
@testable import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// Expects `body` to throw a LustreError with `errno` (whatever its context).
func expectErrno(_ errno: Int32, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected errno \(errno), got success", sourceLocation: sourceLocation)
    } catch let error as LustreError {
        #expect(error.errno == errno, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

/// Round trips of every MDT request and reply record, their caps, and a fuzz test.
@Suite("MDT request records")
struct MDTRequestRecordTests {
    static let user = MDTCredentials(uid: 500, gid: 100, groups: [10, 20])
    static let dir = LustreFID(sequence: LustreFID.firstNormalSequence, objectID: 1)
    static let file = LustreFID(sequence: LustreFID.firstNormalSequence, objectID: 7, version: 2)
    static let layout = LustreLayout(stripeSize: 1 << 20, stripeCount: 2, stripeOffset: 1)

    func roundTrip<R: MDTRequestRecord>(_ record: R) throws {
        let decoded = try R(decodingRequest: record.encoded())
        #expect(decoded == record)
        #expect(decoded.credentials == record.credentials)
    }

    @Test("every request record decodes to what was encoded")
    func everyRecordRoundTrips() throws {
        let user = Self.user, dir = Self.dir, file = Self.file
        try roundTrip(MDTGetRootRequest(credentials: .root))
        try roundTrip(MDTGetattrRequest(credentials: user, fid: file))
        try roundTrip(MDTLookupRequest(credentials: user, parent: dir, name: "héllo wörld"))
        for kind in [MDTCreateKind.file, .directory, .symlink(target: "../a/b"), .node(rdev: 0x0801)] {
            for layout in [nil, Self.layout] {
                try roundTrip(MDTCreateRequest(credentials: user, parent: dir, name: "f", kind: kind, mode: 0o100644,
                                               layout: layout, exclusive: layout == nil))
            }
        }
        // Create with the open intent: only a regular file can be opened so.
        try roundTrip(MDTCreateRequest(credentials: user, parent: dir, name: "f", kind: .file, mode: 0o100644,
                                       layout: Self.layout, exclusive: true, openFlags: O_RDWR | O_APPEND))
        // With the FID the client chose (Lustre's clients allocate FIDs), with and without an open.
        let chosen = LustreFID(sequence: 0x2_0000_0409, objectID: 7)
        try roundTrip(MDTCreateRequest(credentials: user, parent: dir, name: "f", kind: .file, mode: 0o100644,
                                       layout: Self.layout, exclusive: true, openFlags: O_WRONLY, fid: chosen))
        try roundTrip(MDTCreateRequest(credentials: user, parent: dir, name: "d", kind: .directory, mode: 0o40755,
                                       layout: nil, exclusive: true, fid: chosen))
        try roundTrip(MDTSeqQueryRequest(credentials: .root))
        var replayed = MDTCreateRequest(credentials: user, parent: dir, name: "f", kind: .file, mode: 0o100644,
                                        layout: nil, exclusive: true, openFlags: O_WRONLY, fid: chosen)
        var given = Self.layout
        given.fid = chosen
        given.objects = [LayoutObject(ostIndex: 1, id: OSTObjectID(objectID: 34))]
        given.stripeCount = 1
        replayed.replayLayout = given
        try roundTrip(replayed)
        var openDirectory = MDTCreateRequest(credentials: user, parent: dir, name: "d", kind: .directory, mode: 0o40755,
                                             layout: nil, exclusive: true)
        openDirectory.openFlags = O_RDONLY
        expectErrno(EPROTO) { _ = try MDTCreateRequest(decodingRequest: openDirectory.encoded()) }
        try roundTrip(MDTUnlinkRequest(credentials: user, parent: dir, name: "f"))
        try roundTrip(MDTRmdirRequest(credentials: user, parent: dir, name: "d"))
        try roundTrip(MDTRenameRequest(credentials: user, from: dir, name: "a", to: file, newName: "b"))
        try roundTrip(MDTRenameRequest(credentials: user, from: dir, name: "a", to: file, newName: "b", noReplace: true))
        // Without RENAME_NOREPLACE the record is what it was before the flags (older MDSs read it);
        // with it, four bytes more; a flag the MDS does not know is EINVAL.
        let plain = MDTRenameRequest(credentials: user, from: dir, name: "a", to: file, newName: "b")
        var flagged = plain
        flagged.noReplace = true
        #expect(flagged.encoded().readableBytes == plain.encoded().readableBytes + 4)
        var exchange = plain.encoded()
        exchange.writeInteger(UInt32(2), endianness: .little)
        expectErrno(EINVAL) { _ = try MDTRenameRequest(decodingRequest: exchange) }
        try roundTrip(MDTLinkRequest(credentials: user, fid: file, parent: dir, name: "hard"))
        try roundTrip(MDTReaddirRequest(credentials: user, fid: dir, cookie: 0xdead_beef, maxEntries: 128))
        try roundTrip(MDTReadlinkRequest(credentials: user, fid: file))
        try roundTrip(MDTFid2PathRequest(credentials: user, fid: file))
        try roundTrip(MDTOpenRequest(credentials: user, fid: file, flags: O_RDWR | O_APPEND))
        for (size, blocks) in [(UInt64?.none, UInt64?.none), (5, nil), (nil, 8), (1 << 40, 2 << 30)] {
            try roundTrip(MDTCloseRequest(credentials: user, handle: 42, size: size, blocks: blocks))
        }
        try roundTrip(MDTCloseRequest(credentials: user, handle: 42, size: 5, blocks: 8,
                                      mtime: MDTTime(seconds: 1_700_000_000, nanoseconds: 999_999_999)))
        try roundTrip(MDTStatfsRequest(credentials: user))
        try roundTrip(MDTSyncRequest(credentials: user))
        try roundTrip(MDTSetLayoutRequest(credentials: user, fid: dir, layout: Self.layout))
        try roundTrip(MDTGetxattrRequest(credentials: user, fid: file, name: "user.a"))
        try roundTrip(MDTSetxattrRequest(credentials: user, fid: file, name: "user.a", value: [0, 1, 2, 255], flags: 1))
        try roundTrip(MDTListxattrRequest(credentials: user, fid: file))
        try roundTrip(MDTRemovexattrRequest(credentials: user, fid: file, name: "user.a"))
        var change = MDTSetattr(valid: [.mode, .size, .mtime], mode: 0o600, size: 99)
        change.mtime = MDTTime(seconds: 1_700_000_000, nanoseconds: 5)
        try roundTrip(MDTSetattrRequest(credentials: user, fid: file, change: change))
    }

    @Test("reint records start with Lustre's sub-opcode")
    func reintSubOpcodes() throws {
        var buffer = MDTUnlinkRequest(credentials: .root, parent: Self.dir, name: "x").encoded()
        #expect(buffer.readInteger(endianness: .little, as: UInt32.self) == MDTReintOpcode.unlink.rawValue)
        #expect(MDTCreateRequest.reint == .create && MDTOpenRequest.reint == .open && MDTSetattrRequest.reint == .setattr)
        #expect(MDTRenameRequest.reint == .rename && MDTLinkRequest.reint == .link && MDTRmdirRequest.reint == .rmentry)
        #expect(MDTOpcode.reint.rawValue == 36 && MDTOpcode.getattr.rawValue == 33 && MDTOpcode.getRoot.rawValue == 40)
        // A record sent under the wrong sub-opcode is refused.
        let unlink = MDTUnlinkRequest(credentials: .root, parent: Self.dir, name: "x").encoded()
        #expect(throws: LustreError.self) { try MDTRmdirRequest(decodingRequest: unlink) }
    }

    @Test("a name above 255 bytes is ENAMETOOLONG, an empty one EINVAL")
    func nameCaps() throws {
        let long = MDTLookupRequest(credentials: .root, parent: Self.dir, name: String(repeating: "n", count: 256))
        expectErrno(ENAMETOOLONG) { _ = try MDTLookupRequest(decodingRequest: long.encoded()) }
        let ok = MDTLookupRequest(credentials: .root, parent: Self.dir, name: String(repeating: "n", count: 255))
        try roundTrip(ok)
        let empty = MDTLookupRequest(credentials: .root, parent: Self.dir, name: "")
        expectErrno(EINVAL) { _ = try MDTLookupRequest(decodingRequest: empty.encoded()) }
    }

    @Test("symlink targets, xattr values and readdir counts are capped")
    func otherCaps() throws {
        let link = MDTCreateRequest(credentials: .root, parent: Self.dir, name: "l",
                                    kind: .symlink(target: String(repeating: "t", count: 4097)), mode: 0o777,
                                    layout: nil, exclusive: true)
        #expect(throws: LustreError.self) { try MDTCreateRequest(decodingRequest: link.encoded()) }
        let big = MDTSetxattrRequest(credentials: .root, fid: Self.file, name: "user.big",
                                     value: [UInt8](repeating: 1, count: (64 << 10) + 1), flags: 0)
        expectErrno(E2BIG) { _ = try MDTSetxattrRequest(decodingRequest: big.encoded()) }
        let longName = MDTGetxattrRequest(credentials: .root, fid: Self.file, name: String(repeating: "x", count: 256))
        expectErrno(ERANGE) { _ = try MDTGetxattrRequest(decodingRequest: longName.encoded()) }
        for count: UInt32 in [0, 4097] {
            let readdir = MDTReaddirRequest(credentials: .root, fid: Self.dir, cookie: 0, maxEntries: count)
            #expect(throws: LustreError.self) { try MDTReaddirRequest(decodingRequest: readdir.encoded()) }
        }
    }

    @Test("a lying length fails before any allocation")
    func lyingLengths() throws {
        var buffer = ByteBuffer()
        MDTCredentials.root.encode(into: &buffer)
        Self.file.encode(into: &buffer)
        buffer.writeInteger(UInt32(4), endianness: .little)
        buffer.writeString("user")
        buffer.writeInteger(Int32(0), endianness: .little)
        buffer.writeInteger(UInt32.max, endianness: .little)   // value length
        #expect(throws: LustreError.self) { try MDTSetxattrRequest(decodingRequest: buffer) }
    }

    @Test("stray bytes after a record are refused")
    func strayBytes() throws {
        var buffer = MDTGetattrRequest(credentials: .root, fid: Self.file).encoded()
        buffer.writeInteger(UInt8(0))
        expectErrno(EPROTO) { _ = try MDTGetattrRequest(decodingRequest: buffer) }
    }

    @Test("replies decode to what was encoded")
    func replies() throws {
        var attributes = MDTAttributes()
        attributes.fid = Self.file
        attributes.mode = 0o100644
        attributes.size = 12345
        var instantiated = Self.layout
        instantiated.fid = Self.file
        instantiated.objects = [LayoutObject(ostIndex: 1, id: OSTObjectID(objectID: 34)),
                                LayoutObject(ostIndex: 0, id: OSTObjectID(objectID: 35))]
        for body in [MDTBodyReply(attributes: attributes), MDTBodyReply(attributes: attributes, layout: instantiated, handle: 9)] {
            var buffer = body.encoded()
            #expect(try MDTBodyReply(decoding: &buffer) == body)
        }
        var text = MDTTextReply(text: "dir/file").encoded()
        #expect(try MDTTextReply(decoding: &text).text == "dir/file")
        var value = MDTXattrValueReply(value: [1, 2, 3]).encoded()
        #expect(try MDTXattrValueReply(decoding: &value).value == [1, 2, 3])
        var names = MDTNameListReply(names: ["user.a", "trusted.lov"]).encoded()
        #expect(try MDTNameListReply(decoding: &names).names == ["user.a", "trusted.lov"])
        var granted = MDTSequenceReply(sequence: 0x2_0000_0401, width: 0x20000).encoded()
        #expect(try MDTSequenceReply(decoding: &granted) == MDTSequenceReply(sequence: 0x2_0000_0401, width: 0x20000))
        // A sequence below the normal ones, or no width, is no grant.
        for bad in [MDTSequenceReply(sequence: 5, width: 0x20000), MDTSequenceReply(sequence: 0x2_0000_0401, width: 0)] {
            var buffer = bad.encoded()
            expectErrno(EPROTO) { _ = try MDTSequenceReply(decoding: &buffer) }
        }
    }

    @Test("random and mutated bytes give a value or an error, never a trap")
    func fuzz() {
        var generator = SystemRandomNumberGenerator()
        let samples: [ByteBuffer] = [
            MDTCreateRequest(credentials: Self.user, parent: Self.dir, name: "f", kind: .symlink(target: "t"), mode: 0o777,
                             layout: Self.layout, exclusive: true).encoded(),
            MDTSetxattrRequest(credentials: Self.user, fid: Self.file, name: "user.a", value: [1, 2], flags: 0).encoded(),
            MDTCloseRequest(credentials: Self.user, handle: 1, size: 2, blocks: 3).encoded(),
            MDTCloseRequest(credentials: Self.user, handle: 1, size: 2, blocks: 3, mtime: MDTTime(seconds: 4)).encoded(),
            MDTBodyReply(attributes: MDTAttributes(), layout: Self.layout, handle: 1).encoded(),
        ]
        // What decodes must survive its own round trip: the decoder and encoder agree on
        // every value the decoder accepts, not only on the values the other tests build.
        func stable<R: MDTRequestRecord>(_ type: R.Type, _ buffer: ByteBuffer) {
            guard let record = try? R(decodingRequest: buffer) else { return }
            #expect((try? R(decodingRequest: record.encoded())) == record, "\(R.self) does not round-trip")
        }
        func decodeAll(_ buffer: ByteBuffer) {
            stable(MDTGetRootRequest.self, buffer)
            stable(MDTGetattrRequest.self, buffer)
            stable(MDTLookupRequest.self, buffer)
            stable(MDTCreateRequest.self, buffer)
            stable(MDTUnlinkRequest.self, buffer)
            stable(MDTRmdirRequest.self, buffer)
            stable(MDTRenameRequest.self, buffer)
            stable(MDTLinkRequest.self, buffer)
            stable(MDTReaddirRequest.self, buffer)
            stable(MDTReadlinkRequest.self, buffer)
            stable(MDTFid2PathRequest.self, buffer)
            stable(MDTOpenRequest.self, buffer)
            stable(MDTCloseRequest.self, buffer)
            stable(MDTSetattrRequest.self, buffer)
            stable(MDTSetLayoutRequest.self, buffer)
            stable(MDTGetxattrRequest.self, buffer)
            stable(MDTSetxattrRequest.self, buffer)
            stable(MDTListxattrRequest.self, buffer)
            stable(MDTRemovexattrRequest.self, buffer)
            var copy = buffer
            _ = try? MDTBodyReply(decoding: &copy)
            copy = buffer
            _ = try? MDTTextReply(decoding: &copy)
            copy = buffer
            _ = try? MDTNameListReply(decoding: &copy)
            copy = buffer
            _ = try? MDTXattrValueReply(decoding: &copy)
            copy = buffer
            _ = try? FilesystemConfiguration(decoding: &copy)
            copy = buffer
            _ = try? MGSTargetRegistration(decoding: &copy)
            copy = buffer
            _ = try? MGSConfigRequest(decoding: &copy)
        }
        for round in 0..<4000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int.random(in: 0...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                let sample = samples[round % samples.count]
                bytes = sample.getBytes(at: sample.readerIndex, length: sample.readableBytes)!
                for _ in 0..<Int.random(in: 1...8, using: &generator) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
                if Bool.random(using: &generator) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            }
            decodeAll(ByteBuffer(bytes: bytes))
        }
    }
}

@Suite("MGS wire records")
struct MGSWireTests {
    static func configuration() throws -> FilesystemConfiguration {
        let mdt = try TargetName(parsing: "testfs-MDT0000")
        let ost0 = try TargetName(parsing: "testfs-OST0000")
        let ost1 = try TargetName(parsing: "testfs-OST0001")
        return FilesystemConfiguration(
            fsname: "testfs", generation: 7,
            mdts: [TargetEntry(name: mdt, nids: ["127.0.0.1@tcp"])],
            osts: [TargetEntry(name: ost0, nids: ["127.0.0.2@tcp", "10.0.0.2@tcp1"]),
                   TargetEntry(name: ost1, nids: ["127.0.0.3@tcp"])],
            defaultLayout: LustreLayout(stripeSize: 4 << 20, stripeCount: LustreLayout.stripeCountAll),
            parameters: ["osc.*.max_dirty_mb": "64"])
    }

    @Test("a configuration decodes to what was encoded")
    func configurationRoundTrip() throws {
        let configuration = try Self.configuration()
        var buffer = configuration.encoded()
        #expect(try FilesystemConfiguration(decoding: &buffer) == configuration)
        #expect(buffer.readableBytes == 0)
    }

    @Test("an OST of another filesystem in a configuration is refused")
    func foreignTarget() throws {
        var configuration = try Self.configuration()
        configuration.osts.append(TargetEntry(name: try TargetName(parsing: "other-OST0002"), nids: ["1.2.3.4@tcp"]))
        var buffer = configuration.encoded()
        #expect(throws: LustreError.self) { try FilesystemConfiguration(decoding: &buffer) }
    }

    @Test("registration and config requests round-trip")
    func requests() throws {
        let registration = MGSTargetRegistration(target: try TargetName(parsing: "testfs-OST0003"), nids: ["127.0.0.4@tcp"])
        var buffer = registration.encoded()
        #expect(try MGSTargetRegistration(decoding: &buffer) == registration)
        let query = MGSConfigRequest(fsname: "testfs", knownGeneration: 3, waitMilliseconds: 500)
        buffer = query.encoded()
        #expect(try MGSConfigRequest(decoding: &buffer) == query)
        buffer = MGSTargetRegistrationReply(generation: 9).encoded()
        #expect(try MGSTargetRegistrationReply(decoding: &buffer).generation == 9)
        #expect(MGSOpcode.targetRegister.rawValue == 253 && MGSOpcode.configRead.rawValue == 256)
    }

    @Test("a registration without NIDs or with a malformed one is refused")
    func badRegistration() throws {
        let name = try TargetName(parsing: "testfs-OST0000")
        for nids in [[], ["127.0.0.1@tcp,127.0.0.2@tcp"], [""]] {
            var buffer = MGSTargetRegistration(target: name, nids: nids).encoded()
            #expect(throws: LustreError.self) { try MGSTargetRegistration(decoding: &buffer) }
        }
    }
}
