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
        /// A payload being received; the buffer holds what arrived so far, if
        /// it did not come in one read.
        case payload(LNetHeader, ByteBuffer?)
        case failed
    }

    private var state: State = .hello
    /// Bytes of a hello or header split across reads.
    private var partial: ByteBuffer?
    /// Tells the channel's receive allocator how much to read next.
    private let plan: LNetReadPlan

    init(plan: LNetReadPlan) {
        self.plan = plan
    }

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
                    plan.frameAligned = hello.connectionType == .bulk
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
                        state = .payload(header, nil)
                    }
                case .payload(let header, nil) where input.readableBytes >= Int(header.payloadLength):
                    // A frame-aligned read brought the whole payload: it is the buffer, no copy.
                    state = .header
                    let payload = input.readSlice(length: Int(header.payloadLength))!
                    context.fireChannelRead(wrapInboundOut(.message(LNetMessage(header: header, payload: payload))))
                case .payload(let header, nil)
                    where plan.frameAligned && input.capacity - input.readerIndex == Int(header.payloadLength):
                    // Part of the payload came, into a buffer sized for all of it: the next
                    // read continues in the same buffer (the allocator hands it back), so
                    // the payload is never copied in user space.
                    plan.continuation = input
                    input = ByteBuffer()
                case .payload(let header, var received):
                    state = .failed // drop every other reference while appending, so the write is in place
                    var payload = received.take() ?? context.channel.allocator.buffer(capacity: Int(header.payloadLength))
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
        planNextRead()
    }

    /// On bulk connections, reads stop at frame boundaries so that a payload
    /// the kernel already holds arrives as one buffer of its own.
    private func planNextRead() {
        guard plan.frameAligned else { return }
        switch state {
        case .header:
            plan.nextReadSize = LNetHeader.size - (partial?.readableBytes ?? 0)
        case .payload(let header, let received):
            plan.nextReadSize = max(1, Int(header.payloadLength) - (received?.readableBytes ?? 0))
        case .hello, .failed:
            plan.nextReadSize = LNetReadPlan.defaultReadSize
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

/// What the frame decoder wants the next socket read to be. Only touched on
/// the channel's event loop: the decoder writes it, the allocator reads it.
final class LNetReadPlan: @unchecked Sendable {
    static let defaultReadSize = 64 << 10
    /// Payloads of whole pages go to page-aligned memory (`LNetConfiguration.pageAlignedBulk`).
    let pageAlignedBulk: Bool
    var frameAligned = false
    var nextReadSize = LNetReadPlan.defaultReadSize
    /// A payload buffer partly filled by the last read, to be read into again.
    var continuation: ByteBuffer?

    init(pageAlignedBulk: Bool = false) {
        self.pageAlignedBulk = pageAlignedBulk
    }
}

/// A receive allocator that reads exactly what the frame decoder asks for.
struct LNetFrameReadAllocator: RecvByteBufferAllocator {
    let plan: LNetReadPlan

    func buffer(allocator: ByteBufferAllocator) -> ByteBuffer {
        if let continuation = plan.continuation.take() { return continuation }
        let size = plan.frameAligned ? plan.nextReadSize : LNetReadPlan.defaultReadSize
        // A payload of whole pages lands page-aligned (the surplus parked in front is whole
        // pages too, capacities being powers of two), ready for O_DIRECT.
        let payloadOfPages = plan.pageAlignedBulk && plan.frameAligned && size >= LNetBulkAllocator.alignment
            && size % LNetBulkAllocator.alignment == 0
        var buffer = (payloadOfPages ? LNetBulkAllocator.allocator : allocator).buffer(capacity: size)
        // The allocator may round the capacity up; NIO reads into all of it, so
        // park the surplus in front to keep the read from crossing the frame.
        let surplus = buffer.capacity - size
        if surplus > 0 {
            buffer.moveWriterIndex(forwardBy: surplus)
            buffer.moveReaderIndex(forwardBy: surplus)
        }
        return buffer
    }

    /// Control connections read into NIO's pooled buffers, which NIO reuses
    /// once nothing holds a slice of them (no malloc and free of 64 KiB per
    /// read); bulk connections get a fresh buffer sized to the frame, since a
    /// reused one may be larger and bulk payloads keep their buffers anyway.
    func nextBufferSize() -> Int? { plan.frameAligned ? nil : LNetReadPlan.defaultReadSize }

    /// Always "may grow": NIO then never reads into a buffer it kept from an
    /// earlier read, which we may still hold slices of (that would copy it).
    mutating func record(actualReadBytes: Int) -> Bool { true }
}
