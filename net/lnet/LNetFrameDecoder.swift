import LibCFS
import NIOCore

/// What the frame decoder hands to the connection handler.
enum LNetInbound {
    case hello(LNetHello)
    case message(LNetMessage)
    case noop
}

/// Splits a socket LND byte stream into a hello and then frames.
///
/// Written by hand rather than on `ByteToMessageDecoder` so that a large
/// payload is either a slice of the read buffer (zero copy when one read holds
/// it) or copied exactly once into a buffer of its final size; a cumulation
/// buffer would copy again whenever a held slice made it non-unique.
final class LNetFrameDecoder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = LNetInbound

    private enum State {
        case hello
        case header
        case payload(LNetHeader, ByteBuffer)
        case failed
    }

    private var state: State = .hello
    /// Bytes of a hello or header split across reads.
    private var partial: ByteBuffer?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        do {
            while input.readableBytes > 0 {
                switch state {
                case .failed:
                    return
                case .hello:
                    guard var bytes = gather(LNetHello.size, from: &input, context: context) else { return }
                    let hello = try LNetHello(decoding: &bytes)
                    state = .header
                    context.fireChannelRead(wrapInboundOut(.hello(hello)))
                case .header:
                    guard var bytes = gather(LNetHeader.size, from: &input, context: context) else { return }
                    let header = try LNetHeader(decoding: &bytes)
                    if header.frameType == .noop {
                        context.fireChannelRead(wrapInboundOut(.noop))
                    } else if header.payloadLength == 0 {
                        context.fireChannelRead(wrapInboundOut(.message(LNetMessage(header: header, payload: ByteBuffer()))))
                    } else if input.readableBytes >= Int(header.payloadLength) {
                        // The whole payload is in this read: hand out a slice, no copy.
                        let payload = input.readSlice(length: Int(header.payloadLength))!
                        context.fireChannelRead(wrapInboundOut(.message(LNetMessage(header: header, payload: payload))))
                    } else {
                        state = .payload(header, context.channel.allocator.buffer(capacity: Int(header.payloadLength)))
                    }
                case .payload(let header, var payload):
                    state = .failed // drop our reference while appending, so the write is in place
                    let wanted = Int(header.payloadLength) - payload.readableBytes
                    var chunk = input.readSlice(length: min(wanted, input.readableBytes))!
                    payload.writeBuffer(&chunk)
                    if payload.readableBytes == Int(header.payloadLength) {
                        state = .header
                        context.fireChannelRead(wrapInboundOut(.message(LNetMessage(header: header, payload: payload))))
                    } else {
                        state = .payload(header, payload)
                    }
                }
            }
        } catch {
            state = .failed
            context.fireErrorCaught(error)
        }
    }

    /// Collects exactly `count` bytes for a fixed-size record, across reads if need be.
    private func gather(_ count: Int, from input: inout ByteBuffer, context: ChannelHandlerContext) -> ByteBuffer? {
        if partial == nil, input.readableBytes >= count {
            return input.readSlice(length: count)
        }
        var buffer = partial ?? context.channel.allocator.buffer(capacity: count)
        partial = nil
        var chunk = input.readSlice(length: min(count - buffer.readableBytes, input.readableBytes))!
        buffer.writeBuffer(&chunk)
        if buffer.readableBytes == count { return buffer }
        partial = buffer
        return nil
    }
}
