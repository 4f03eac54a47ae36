import LNet
import LibCFS
import NIOCore
import PtlRPC

/// The self-test responder: answers pings and moves bulk data in either direction.
struct SelftestHandler: PtlRPCHandler {
    /// Bytes served to bulk reads, sliced per request (no allocation per RPC).
    let pattern: ByteBuffer

    init(maxSize: Int) {
        let block = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        var pattern = ByteBufferAllocator().buffer(capacity: maxSize)
        while pattern.readableBytes < maxSize { pattern.writeBytes(block.prefix(maxSize - pattern.readableBytes)) }
        self.pattern = pattern
    }

    func handle(_ request: PtlRPCRequest) async -> PtlRPCReply {
        do throws(LustreError) {
            switch request.message.opcode {
            case Opcode.selftestPing:
                return PtlRPCReply()
            case Opcode.selftestBulkWrite:
                let size = try Self.size(of: request)
                _ = try await request.bulkGet(length: size)
                return PtlRPCReply()
            case Opcode.selftestBulkRead:
                let size = try Self.size(of: request)
                guard size <= pattern.readableBytes else {
                    throw LustreError.invalid("bulk read of \(size) bytes exceeds the responder's \(pattern.readableBytes)")
                }
                let (type, checksum) = try await request.bulkPut(pattern.getSlice(at: 0, length: size)!)
                var reply = PtlRPCReply()
                reply.bulkChecksumType = type
                reply.bulkChecksum = checksum
                return reply
            default:
                return .error(.notSupported("lnet-selftest opcode \(request.message.opcode)"))
            }
        } catch {
            return .error(error)
        }
    }

    static func size(of request: PtlRPCRequest) throws(LustreError) -> Int {
        var body = try request.message.buffer(0, "bulk size")
        guard let size = body.readInteger(endianness: .little, as: UInt32.self) else {
            throw .protocolError("bulk size missing")
        }
        return Int(size)
    }
}

enum Selftest {
    static let portals = PtlRPCService.Portals(request: Portal.selftestRequest, reply: Portal.selftestReply,
                                               bulk: Portal.selftestBulk)
    static let targetName = "lnet-selftest"
    static let maxSize = 4 << 20

    static var importConfiguration: PtlRPCImport.Configuration {
        PtlRPCImport.Configuration(portals: portals, connectOpcode: Opcode.selftestConnect,
                                   disconnectOpcode: Opcode.selftestDisconnect)
    }
}
