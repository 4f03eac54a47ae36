#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore
import Synchronization

/// One established, typed socket LND connection to a peer.
///
/// A frame sent while nothing else waits to go out is written by the sender's
/// own thread, without blocking: no hand-off to the event loop and no wake-up of
/// it, which is most of a small RPC's latency. Otherwise sending is batched:
/// frames are queued under a lock and one task on the channel's event loop
/// writes everything queued with a single flush, so many small messages share
/// a wake-up and a `writev`. Credits (`peer_credits`)
/// bound the frames written but not yet taken by the kernel; beyond them
/// frames wait here. Receive credits bound the delivered messages a consumer
/// has not released yet: past the limit the socket is no longer read.
final class LNetConnection: Sendable {
    let channel: Channel
    let type: LNetConnectionType
    let peer: ProcessID
    let peerIncarnation: UInt64
    /// Payloads at most this long are copied behind the header into one buffer.
    static let coalesceLimit = 8 << 10
    /// Frames with payloads at most this long may be written by the sender's thread;
    /// bulk stays on the event loop, where a megabyte's copy holds no lock.
    static let directLimit = 64 << 10
    /// A frame goes out from the sender's thread only when the previous one left at least
    /// this long ago: under a stream of frames, one event-loop flush batching many is cheaper
    /// than a `sendmsg` (and a wake-up of the peer) for each.
    static let directIdleNanoseconds: UInt64 = 50_000

    private struct Frame {
        /// Nil for the unsent rest of a frame the sender's thread began: `payload` is already framed.
        var header: LNetHeader?
        var payload: ByteBuffer?
        var promise: EventLoopPromise<Void>?
    }

    private struct State {
        var credits: Int
        var ready: [Frame] = []
        var blocked: [Frame] = []
        var flushScheduled = false
        var closed = false
        var receiveOutstanding = 0
        var readingPaused = false
        /// Our duplicate of the socket, once the hello is out (`enableDirectSend`); -1 before and after.
        var socket: CInt = -1
        /// Batches handed to NIO and not yet written: while any is, frames queue behind them.
        var batchesInNIO = 0
        /// When the last frame was sent or queued (CLOCK_MONOTONIC, ns).
        var lastSend: UInt64 = 0

        /// Whether a frame may go out now from the sender's thread: the connection is quiet
        /// and nothing queued could be overtaken.
        func mayWriteDirectly(payloadLength: Int, now: UInt64) -> Bool {
            socket >= 0 && credits > 0 && ready.isEmpty && blocked.isEmpty && !flushScheduled && batchesInNIO == 0
                && payloadLength <= LNetConnection.directLimit && now &- lastSend >= LNetConnection.directIdleNanoseconds
        }
    }

    private let state: Mutex<State>
    private let receiveLimit: Int
    /// Frames the senders' threads wrote whole, and those they began but the loop finished.
    let directFrames = Atomic<Int>(0)
    let splitFrames = Atomic<Int>(0)

    init(channel: Channel, type: LNetConnectionType, peer: ProcessID, peerIncarnation: UInt64,
         credits: Int, receiveLimit: Int) {
        self.channel = channel
        self.type = type
        self.peer = peer
        self.peerIncarnation = peerIncarnation
        self.state = Mutex(State(credits: credits))
        self.receiveLimit = receiveLimit
    }

    /// Sends a frame, or queues it; `promise` completes once the kernel has the bytes.
    func send(_ header: LNetHeader, payload: ByteBuffer?, promise: EventLoopPromise<Void>?) {
        var frame = Frame(header: header, payload: payload, promise: promise)
        var sent = false
        let (schedule, refused) = state.withLock { state -> (Bool, Bool) in
            if state.closed { return (false, true) }
            let now = Self.now()
            defer { state.lastSend = now }
            if state.mayWriteDirectly(payloadLength: payload?.readableBytes ?? 0, now: now) {
                // Under the lock, so no other frame can slip in between this one's pieces.
                var head = channel.allocator.buffer(capacity: LNetHeader.size)
                header.encode(into: &head)
                let length = head.readableBytes + (payload?.readableBytes ?? 0)
                let written = LNetSocketDescriptor.send(state.socket, head, payload)
                if written == length {
                    directFrames.add(1, ordering: .relaxed)
                    sent = true
                    return (false, false)
                }
                splitFrames.add(1, ordering: .relaxed)
                // The socket is full (or failing): the rest goes through the event loop,
                // which waits for room or meets the error and closes.
                var rest = channel.allocator.buffer(capacity: length - written)
                rest.writeImmutableBuffer(head)
                if let payload { rest.writeImmutableBuffer(payload) }
                rest.moveReaderIndex(forwardBy: written)
                frame = Frame(header: nil, payload: rest, promise: promise)
            }
            if state.credits > 0 {
                state.credits -= 1
                state.ready.append(frame)
                if !state.flushScheduled {
                    state.flushScheduled = true
                    return (true, false)
                }
            } else {
                state.blocked.append(frame)
            }
            return (false, false)
        }
        if sent {
            promise?.succeed()
        } else if refused {
            if let promise {
                promise.fail(LustreError(errno: ECONNRESET, "connection to \(peer) closed"))
            } else {
                CDEBUG(.net, "\(header.type) to \(peer) not sent: connection closed")
            }
        } else if schedule {
            channel.eventLoop.execute { self.flush() }
        }
    }

    /// Writes every ready frame and flushes once. Runs on the event loop.
    ///
    /// Headers and small payloads of the whole batch go into one buffer (one
    /// allocation, one iovec); only large payloads are written as buffers of
    /// their own. One promise, on the batch's last write, returns the batch's
    /// credits and completes the senders' promises: writes complete in order,
    /// so the last one done means all are.
    private func flush() {
        let frames = state.withLock { state -> [Frame] in
            state.flushScheduled = false
            var frames: [Frame] = []
            swap(&frames, &state.ready)
            if !frames.isEmpty { state.batchesInNIO += 1 }
            return frames
        }
        guard !frames.isEmpty else { return }
        var coalescedBytes = 0
        for frame in frames {
            let payloadLength = frame.payload?.readableBytes ?? 0
            coalescedBytes += LNetHeader.size + (payloadLength <= Self.coalesceLimit ? payloadLength : 0)
        }
        var head = channel.allocator.buffer(capacity: coalescedBytes)
        for frame in frames {
            frame.header?.encode(into: &head)
            guard let payload = frame.payload, payload.readableBytes > 0 else { continue }
            if payload.readableBytes <= Self.coalesceLimit {
                head.writeImmutableBuffer(payload)
            } else {
                channel.write(head, promise: nil)
                channel.write(payload, promise: nil)
                coalescedBytes -= head.readableBytes
                head = channel.allocator.buffer(capacity: coalescedBytes)
            }
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { result in
            self.state.withLock { $0.batchesInNIO -= 1 }
            self.returnCredits(frames.count)
            for frame in frames { frame.promise?.completeWith(result) }
        }
        // An empty buffer still carries the batch's promise, behind the last payload.
        channel.write(head, promise: written)
        channel.flush()
    }

    private static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    private func returnCredits(_ count: Int) {
        let schedule = state.withLock { state -> Bool in
            var freed = count
            while freed > 0, !state.blocked.isEmpty {
                state.ready.append(state.blocked.removeFirst())
                freed -= 1
            }
            state.credits += freed
            guard freed < count, !state.flushScheduled else { return false }
            state.flushScheduled = true
            return true
        }
        if schedule { channel.eventLoop.execute { self.flush() } }
    }

    /// Lets senders write to `socket`, a duplicate of the channel's socket that the
    /// connection now owns, once nothing sent before can still be in NIO's hands.
    func enableDirectSend(socket: CInt) {
        state.withLock { state in
            if state.closed || state.socket >= 0 {
                close(socket)
            } else {
                state.socket = socket
            }
        }
    }

    /// Marks the connection dead and fails every frame still queued.
    func closed() {
        let frames = state.withLock { state -> [Frame] in
            state.closed = true
            if state.socket >= 0 {
                close(state.socket)
                state.socket = -1
            }
            let frames = state.ready + state.blocked
            state.ready = []
            state.blocked = []
            return frames
        }
        let error = LustreError(errno: ECONNRESET, "connection to \(peer) closed")
        for frame in frames { frame.promise?.fail(error) }
    }

    var isClosed: Bool { state.withLock { $0.closed } }

    /// Takes a receive credit for a delivered message; the closure gives it back.
    /// Called on the event loop.
    func takeReceiveCredit() -> @Sendable () -> Void {
        let pause = state.withLock { state -> Bool in
            state.receiveOutstanding += 1
            if state.receiveOutstanding >= receiveLimit && !state.readingPaused {
                state.readingPaused = true
                return true
            }
            return false
        }
        if pause {
            CDEBUG(.net, "pausing reads from \(peer): \(receiveLimit) messages not yet consumed")
            channel.setOption(ChannelOptions.autoRead, value: false).whenFailure { _ in }
        }
        let credit = ReceiveCredit(connection: self)
        return { credit.release() }
    }

    fileprivate func giveBackReceiveCredit() {
        let resume = state.withLock { state -> Bool in
            state.receiveOutstanding -= 1
            if state.readingPaused && state.receiveOutstanding <= receiveLimit / 2 {
                state.readingPaused = false
                return true
            }
            return false
        }
        if resume {
            channel.eventLoop.execute {
                self.channel.setOption(ChannelOptions.autoRead, value: true).whenFailure { _ in }
                self.channel.read()
            }
        }
    }
}

/// A receive credit held by one delivered message; released at most once.
private final class ReceiveCredit: Sendable {
    let connection: LNetConnection
    let released = Atomic<Bool>(false)

    init(connection: LNetConnection) { self.connection = connection }

    func release() {
        guard !released.exchange(true, ordering: .relaxed) else { return }
        connection.giveBackReceiveCredit()
    }
}
