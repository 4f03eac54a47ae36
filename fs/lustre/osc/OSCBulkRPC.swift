import LibCFS
import NIOCore
import ObdClass
import PtlRPC

#if canImport(Glibc)
import Glibc
#endif

/// Builds and sends one `OST_READ`/`OST_WRITE` for a batch of extents of one object: adjacent
/// extents become one `niobuf_remote`, the pieces travel back to back in one bulk buffer.
struct OSCBulkRPC: Sendable {
    let rpcImport: PtlRPCImport
    let deviceName: String
    /// Whether writes should ask the OST to commit early (`OBD_BRW_SOFT_SYNC`).
    let softSync: @Sendable () -> Bool
    /// The client's grant on the OST: writes say what they used of it, replies add to it.
    let grant: OSCGrant
    /// Times an RPC answered `-EAGAIN` (bulk dropped or corrupted on the way) is sent again.
    static let maxResends = 10

    typealias Outcome = Result<(transno: UInt64, data: ByteBuffer?), LustreError>

    /// One niobuf and the extents (by position in the batch) it covers.
    private struct Span {
        var niobuf: OSTNiobuf
        var members: [Int]
    }

    func send(_ batch: [OSCExtent]) async -> [Outcome] {
        guard let first = batch.first else { return [] }
        var spans = Self.spans(of: batch)
        if first.direction == .write, softSync() {
            for index in spans.indices { spans[index].niobuf.flags |= OSTNiobuf.softSync }
        }
        var obdo = ObdAttributes()
        obdo.valid = [.id, .groupID]
        obdo.id = first.object
        var obdoBuffer = ByteBufferAllocator().buffer(capacity: ObdAttributes.wireSize)
        obdo.encode(into: &obdoBuffer)
        var buffers = [obdoBuffer, OSTNiobuf.encode(spans.map(\.niobuf))]
        if first.direction == .write {
            let fromGrant = batch.reduce(0) { $0 + ($1.fromGrant ? $1.length : 0) }
            buffers.append(grant.request(fromGrant: fromGrant).encoded())
        }
        let total = batch.reduce(0) { $0 + $1.length }
        let opcode: OSTOpcode = first.direction == .write ? .write : .read
        let bulk: PtlRPCImport.Bulk
        if first.direction == .write {
            bulk = .write(Self.gather(batch, spans))
        } else {
            bulk = .read(maxLength: total)
        }
        var resends = 0
        while true {
            let response: PtlRPCImport.Response
            let sentAt = MonotonicClock.nanoseconds()
            do {
                response = try await rpcImport.call(opcode: opcode.rawValue, buffers: buffers, bulk: bulk,
                                                    jobID: first.jobID)
            } catch {
                return Array(repeating: .failure(error.adding(context: "\(deviceName): \(opcode) \(first.object)")),
                             count: batch.count)
            }
            let status = response.reply.status
            if status == -EAGAIN, resends < Self.maxResends {
                // The server dropped or refused the bulk (checksums off, or a fault point): a new RPC.
                resends += 1
                CDEBUG(.rpctrace, "\(deviceName): \(opcode) \(first.object) answered -EAGAIN: resending (\(resends))")
                continue
            }
            guard status >= 0 else {
                let error = LustreError(status: status, "\(deviceName): \(opcode) \(first.object)")
                return Array(repeating: .failure(error), count: batch.count)
            }
            if opcode == .write {
                if response.reply.buffers.count > 1 {
                    do {
                        grant.update(try OSTGrant.Reply(decoding: response.reply.buffers[1]), sentAt: sentAt)
                    } catch {
                        CDEBUG(.rpctrace, "\(deviceName): write \(first.object): \(error)")
                    }
                }
                return Array(repeating: .success((response.reply.transno, nil)), count: batch.count)
            }
            do {
                return try Self.scatter(response, batch, spans)
            } catch {
                return Array(repeating: .failure(error.adding(context: "\(deviceName): read \(first.object)")),
                             count: batch.count)
            }
        }
    }

    /// Sorts the batch by offset and joins extents that touch into one niobuf.
    private static func spans(of batch: [OSCExtent]) -> [Span] {
        let order = batch.indices.sorted { batch[$0].offset < batch[$1].offset }
        var spans: [Span] = []
        for position in order {
            let extent = batch[position]
            if var last = spans.last, let end = last.niobuf.end, end == extent.offset,
               Int(last.niobuf.length) + extent.length <= OSTBRWLimits.maxBytes {
                last.niobuf.length += UInt32(extent.length)
                last.members.append(position)
                spans[spans.count - 1] = last
            } else {
                spans.append(Span(niobuf: OSTNiobuf(offset: extent.offset, length: UInt32(extent.length)),
                                  members: [position]))
            }
        }
        return spans
    }

    /// The write bulk: the extents' own buffers in niobuf order, not copied (LNet sends them
    /// back to back).
    private static func gather(_ batch: [OSCExtent], _ spans: [Span]) -> [ByteBuffer] {
        if batch.count == 1, let data = batch[0].data { return [data] }
        var parts: [ByteBuffer] = []
        parts.reserveCapacity(batch.count)
        for span in spans {
            for member in span.members {
                if let data = batch[member].data { parts.append(data) }
            }
        }
        return parts
    }

    /// Hands each extent its part of the read bulk; the return codes say how much of each niobuf
    /// came back (less at the end of the object).
    private static func scatter(_ response: PtlRPCImport.Response, _ batch: [OSCExtent],
                                _ spans: [Span]) throws(LustreError) -> [Outcome] {
        let codes = try OSTBRWReturnCodes(decoding: try response.reply.buffer(1, "read return codes"),
                                          expected: spans.count)
        let data = response.bulk ?? ByteBuffer()
        let returned = codes.counts.reduce(0) { $0 + Int($1) }
        guard returned == data.readableBytes else {
            throw .protocolError("read bulk of \(data.readableBytes) bytes, return codes say \(returned)")
        }
        var outcomes = [Outcome](repeating: .success((0, ByteBuffer())), count: batch.count)
        var spanStart = data.readerIndex
        for (span, count) in zip(spans, codes.counts) {
            guard count <= span.niobuf.length else {
                throw .protocolError("read returned \(count) bytes for a niobuf of \(span.niobuf.length)")
            }
            for member in span.members {
                let within = Int(batch[member].offset - span.niobuf.offset)
                let available = max(0, min(batch[member].length, Int(count) - within))
                let slice = data.getSlice(at: spanStart + min(within, Int(count)), length: available)!
                outcomes[member] = .success((response.reply.transno, slice))
            }
            spanStart += Int(count)
        }
        return outcomes
    }
}
