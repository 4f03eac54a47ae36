import LibCFS
import Testing

@testable import LustreAdmin

#if canImport(Glibc)
import Glibc
#endif

@Suite struct AdminMessageTests {
    @Test func requestRoundTripsThroughItsBytes() throws {
        let request = AdminMessage.request("set_param", ["osc.*.max_rpcs_in_flight", "16"])
        let decoded = try AdminMessage(decoding: request.encoded(), maxPayload: AdminMessage.maxRequestPayload)
        #expect(decoded == request)
        #expect(decoded.kind == .request)
    }

    @Test func failedReplyKeepsErrnoAndMessage() throws {
        let reply = AdminMessage.failure(LustreError(errno: EINVAL, "300 is out of range 1..256"))
        let decoded = try AdminMessage(decoding: reply.encoded())
        #expect(decoded.status == EINVAL)
        #expect(decoded.fields == ["300 is out of range 1..256"])
    }

    @Test func valuesWithNewlinesAndEmptyFieldsSurvive() throws {
        let reply = AdminMessage.reply(["obdfilter.testfs-OST0000.stats", "snapshot_time 1.2 secs.nsecs\nwrite_bytes 3\n", ""])
        #expect(try AdminMessage(decoding: reply.encoded()) == reply)
    }

    @Test func badMagicIsAProtocolError() {
        var bytes = AdminMessage.request("dl").encoded()
        bytes[0] ^= 0xff
        #expect(errnoOf { _ = try AdminMessage(decoding: bytes) } == EPROTO)
    }

    @Test func oversizedPayloadIsRefusedFromTheHeader() {
        var bytes = AdminMessage.request("dl").encoded()
        // Claim 2 MiB of payload: refused before any of it is read.
        let claimed = UInt32(2 << 20)
        withUnsafeBytes(of: claimed.littleEndian) { for i in 0..<4 { bytes[12 + i] = $0[i] } }
        #expect(errnoOf {
            _ = try AdminMessage.decodeHeader(Array(bytes[..<16]), maxPayload: AdminMessage.maxRequestPayload)
        } == EMSGSIZE)
    }

    @Test func fieldRunningPastTheFrameIsRefused() {
        var bytes = AdminMessage.request("get_param", ["debug"]).encoded()
        // The first field's length (after header and count) grows past the end.
        bytes[20] = 0xff
        #expect(errnoOf { _ = try AdminMessage(decoding: bytes) } == EPROTO)
    }

    @Test func lyingFieldCountIsRefused() {
        var bytes = AdminMessage.request("dl").encoded()
        bytes[16] = 0xff
        bytes[17] = 0xff
        #expect(errnoOf { _ = try AdminMessage(decoding: bytes) } == EPROTO)
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = AdminMessage.request("dl").encoded()
        bytes[bytes.count - 1] = 0xff
        #expect(errnoOf { _ = try AdminMessage(decoding: bytes) } == EPROTO)
    }

    @Test func everyTruncationIsAnErrorNotATrap() {
        let bytes = AdminMessage.request("set_param", ["fail_loc", "0x505"]).encoded()
        for cut in 0..<bytes.count {
            #expect(errnoOf { _ = try AdminMessage(decoding: Array(bytes[..<cut])) } == EPROTO)
        }
    }
}

/// The errno a throwing body failed with, or nil if it did not throw.
func errnoOf(_ body: () throws -> Void) -> Int32? {
    do {
        try body()
        return nil
    } catch let error as LustreError {
        return error.errno
    } catch {
        return -1
    }
}
