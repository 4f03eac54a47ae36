import Glibc
import Testing
@testable import LustreCompat

/// The INIT exchange as the kernel and libfuse 3.14 lay it out: the extension adds
/// `FUSE_DIRECT_IO_ALLOW_MMAP` and `FUSE_OVER_IO_URING` to the reply only when asked to and
/// offered, in `flags2` (offset 32 of `fuse_init_out`), and touches nothing else.
@Suite struct FuseInitExtensionTests {
    /// `fuse_in_header` + `fuse_init_in`: opcode 26, unique, flags, flags2.
    static func initRequest(unique: UInt64, flags: UInt32, flags2: UInt32) -> [UInt8] {
        let length = 40 + 64
        var bytes = [UInt8](repeating: 0, count: length)
        bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt32(26), toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: unique, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: UInt32(7), toByteOffset: 40, as: UInt32.self)
            raw.storeBytes(of: UInt32(41), toByteOffset: 44, as: UInt32.self)
            raw.storeBytes(of: flags, toByteOffset: 52, as: UInt32.self)
            raw.storeBytes(of: flags2, toByteOffset: 56, as: UInt32.self)
        }
        return bytes
    }

    /// Runs the reply (`fuse_out_header` with `unique`, `fuse_init_out` as libfuse 3.14 fills it:
    /// minor 31, flags 0x00409021, max_pages 256) through `amendReply`; returns the body.
    static func amendedReply(_ extensionUnderTest: FuseInitExtension, unique: UInt64) -> [UInt8] {
        amendedReplyAndRingPayload(extensionUnderTest, unique: unique).body
    }

    /// The same, with what `amendReply` said of the ring's payload size.
    static func amendedReplyAndRingPayload(_ extensionUnderTest: FuseInitExtension, unique: UInt64)
        -> (body: [UInt8], ringPayload: Int?) {
        var header = [UInt8](repeating: 0, count: 16)
        var body = [UInt8](repeating: 0, count: 64)
        header.withUnsafeMutableBytes { $0.storeBytes(of: unique, toByteOffset: 8, as: UInt64.self) }
        body.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(7), toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: UInt32(31), toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: UInt32(0x0040_9021), toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: UInt16(256), toByteOffset: 28, as: UInt16.self)
        }
        let ringPayload = header.withUnsafeMutableBytes { h in
            body.withUnsafeMutableBytes { b in
                var iov = [iovec(iov_base: h.baseAddress, iov_len: 16), iovec(iov_base: b.baseAddress, iov_len: 64)]
                return iov.withUnsafeMutableBufferPointer { extensionUnderTest.amendReply($0) }
            }
        }
        return (body, ringPayload)
    }

    static func word(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
    }

    @Test func addsAllowMmapWhenOfferedAndWanted() {
        let ext = FuseInitExtension(wantDirectIOMmap: true)
        Self.initRequest(unique: 2, flags: 1 << 30, flags2: 1 << 4).withUnsafeBytes { ext.sawRequest($0) }
        #expect(ext.grantsDirectIOMmap)
        let body = Self.amendedReply(ext, unique: 2)
        #expect(Self.word(body, 12) == 0x4040_9021)      // FUSE_INIT_EXT added, the rest kept
        #expect(Self.word(body, 32) == 1 << 4)           // flags2: FUSE_DIRECT_IO_ALLOW_MMAP
        #expect(body.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 28, as: UInt16.self) } == 256)  // max_pages kept
        // Only the INIT reply, once.
        #expect(Self.word(Self.amendedReply(ext, unique: 2), 32) == 0)
    }

    /// libfuse 3.14 leaves both out of its reply whatever `want` says.
    @Test func addsParallelDiropsAndHandleKillPrivWhenOfferedAndWanted() {
        let both = FuseInitExtension.parallelDirops | FuseInitExtension.handleKillPriv
        let ext = FuseInitExtension(wantDirectIOMmap: false, wantFlags: both)
        #expect(ext.isNeeded)
        Self.initRequest(unique: 3, flags: 0x73ff_fffb, flags2: 0).withUnsafeBytes { ext.sawRequest($0) }
        #expect(ext.grantedFlags == both)
        let body = Self.amendedReply(ext, unique: 3)
        #expect(Self.word(body, 12) == 0x4040_9021 | both)
        #expect(Self.word(body, 32) == 0)

        let onlyOne = FuseInitExtension(wantDirectIOMmap: false, wantFlags: both)
        Self.initRequest(unique: 3, flags: FuseInitExtension.parallelDirops, flags2: 0).withUnsafeBytes { onlyOne.sawRequest($0) }
        #expect(onlyOne.grantedFlags == FuseInitExtension.parallelDirops)
        #expect(Self.word(Self.amendedReply(onlyOne, unique: 3), 12) & both == FuseInitExtension.parallelDirops)
    }

    @Test func leavesTheReplyAloneWhenNotOfferedOrNotWanted() {
        let notOffered = FuseInitExtension(wantDirectIOMmap: true)
        Self.initRequest(unique: 2, flags: 1 << 30, flags2: 0).withUnsafeBytes { notOffered.sawRequest($0) }
        #expect(!notOffered.grantsDirectIOMmap)
        #expect(Self.word(Self.amendedReply(notOffered, unique: 2), 12) == 0x0040_9021)

        let notWanted = FuseInitExtension(wantDirectIOMmap: false)
        Self.initRequest(unique: 2, flags: 1 << 30, flags2: 1 << 4).withUnsafeBytes { notWanted.sawRequest($0) }
        #expect(!notWanted.grantsDirectIOMmap)
        #expect(Self.word(Self.amendedReply(notWanted, unique: 2), 32) == 0)

        let otherReply = FuseInitExtension(wantDirectIOMmap: true)
        Self.initRequest(unique: 2, flags: 1 << 30, flags2: 1 << 4).withUnsafeBytes { otherReply.sawRequest($0) }
        #expect(Self.word(Self.amendedReply(otherReply, unique: 3), 32) == 0)
    }

    @Test func addsIOURingWhenOfferedAndWanted() {
        let ext = FuseInitExtension(wantDirectIOMmap: false, uring: FuseURing(depth: 1, queueCount: 1))
        // The kernel offers FUSE_OVER_IO_URING (bit 41: flags2 bit 9) and DIRECT_IO_ALLOW_MMAP.
        Self.initRequest(unique: 5, flags: 1 << 30, flags2: 1 << 9 | 1 << 4).withUnsafeBytes { ext.sawRequest($0) }
        #expect(ext.grantsIOURing)
        #expect(!ext.grantsDirectIOMmap)
        let (body, ringPayload) = Self.amendedReplyAndRingPayload(ext, unique: 5)
        #expect(Self.word(body, 12) == 0x4040_9021)
        #expect(Self.word(body, 32) == 1 << 9)           // only what was wanted
        #expect(ringPayload == 256 * Int(sysconf(Int32(_SC_PAGESIZE))))  // max_pages pages

        let notOffered = FuseInitExtension(wantDirectIOMmap: false, uring: FuseURing(depth: 1, queueCount: 1))
        Self.initRequest(unique: 5, flags: 1 << 30, flags2: 0).withUnsafeBytes { notOffered.sawRequest($0) }
        #expect(!notOffered.grantsIOURing)
        #expect(Self.amendedReplyAndRingPayload(notOffered, unique: 5).ringPayload == nil)

        let notWanted = FuseInitExtension(wantDirectIOMmap: false)
        Self.initRequest(unique: 5, flags: 1 << 30, flags2: 1 << 9).withUnsafeBytes { notWanted.sawRequest($0) }
        #expect(!notWanted.grantsIOURing && !notWanted.isNeeded)
        #expect(Self.word(Self.amendedReply(notWanted, unique: 5), 32) == 0)
    }
}
