#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore
import Synchronization

/// One established, typed socket LND connection to a peer.
///
/// A frame its sender marks `alone` (nothing else of its in flight), sent while
/// nothing else waits to go out, is written by the sender's own thread without
/// blocking: no hand-off to the event loop and no wake-up of it, a third of a
/// small RPC's round trip. Otherwise sending is batched:
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

    private struct Frame {
        /// Nil for the unsent rest of a frame the sender's thread began: `payload` is already framed.
        var header: LNetHeader?
        var payload: LNetPayload
        var completion: LNetSendCompletion?
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

        /// A sender's thread is writing a frame outside the lock; the loop waits for it.
        var directSending = false

        /// Whether a frame may go out now from the sender's thread: nothing queued could be overtaken.
        func mayWriteDirectly(_ payload: LNetPayload) -> Bool {
            if case .many = payload { return false }
            return socket >= 0 && !directSending && credits > 0 && ready.isEmpty && blocked.isEmpty && !flushScheduled
                && batchesInNIO == 0 && payload.readableBytes <= LNetConnection.directLimit
        }

        /// Queues `frame` for the loop; whether the caller must schedule a flush.
        mutating func enqueue(_ frame: Frame) -> Bool {
            guard credits > 0 else {
                blocked.append(frame)
                return false
            }
            credits -= 1
            ready.append(frame)
            guard !flushScheduled, !directSending else { return false }
            flushScheduled = true
            return true
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

    /// Sends a frame, or queues it; `completion` completes once the kernel has the bytes.
    /// `alone`: the sender has nothing else in flight, so batching would gain nothing.
    func send(_ header: LNetHeader, payload: LNetPayload, completion: LNetSendCompletion?, alone: Bool = false) {
        enum Step {
            case direct(CInt)
            case queued(schedule: Bool)
            case refused
        }
        let frame = Frame(header: header, payload: payload, completion: completion)
        let step = state.withLock { state -> Step in
            if state.closed { return .refused }
            if alone, state.mayWriteDirectly(payload) {
                // Frames sent meanwhile queue, and the loop leaves them until this one is out.
                state.directSending = true
                return .direct(state.socket)
            }
            return .queued(schedule: state.enqueue(frame))
        }
        switch step {
        case .direct(let socket):
            sendDirectly(frame, on: socket)
        case .queued(let schedule):
            if schedule { channel.eventLoop.execute { self.flush() } }
        case .refused:
            if let completion {
                completion.fail(LustreError(errno: ECONNRESET, "connection to \(peer) closed"))
            } else {
                CDEBUG(.net, "\(header.type) to \(peer) not sent: connection closed")
            }
        }
    }

    /// Writes `frame` on `socket` from the caller's thread, without the lock: a loopback
    /// `sendmsg` runs the peer's receive path too, and other senders need not wait for it.
    private func sendDirectly(_ frame: Frame, on socket: CInt) {
        var head = channel.allocator.buffer(capacity: LNetHeader.size)
        frame.header?.encode(into: &head)
        let body: ByteBuffer? = if case .one(let buffer) = frame.payload { buffer } else { nil }
        let length = head.readableBytes + (body?.readableBytes ?? 0)
        let written = LNetSocketDescriptor.send(socket, head, body)
        var rest: Frame?
        if written == length {
            directFrames.add(1, ordering: .relaxed)
        } else {
            // The socket is full (or failing): the rest goes first through the event loop,
            // which waits for room or meets the error and closes.
            splitFrames.add(1, ordering: .relaxed)
            var bytes = channel.allocator.buffer(capacity: length - written)
            bytes.writeImmutableBuffer(head)
            if let body { bytes.writeImmutableBuffer(body) }
            bytes.moveReaderIndex(forwardBy: written)
            rest = Frame(header: nil, payload: .one(bytes), completion: frame.completion)
        }
        let (schedule, closed) = state.withLock { state -> (Bool, Bool) in
            state.directSending = false
            if state.closed {
                // `closed()` left the descriptor to us, as it was in use.
                if state.socket >= 0 {
                    close(state.socket)
                    state.socket = -1
                }
                return (false, true)
            }
            if let rest {
                // Ahead of whatever queued meanwhile, even past the credits (by one frame).
                state.credits -= 1
                state.ready.insert(rest, at: 0)
            }
            guard !state.ready.isEmpty, !state.flushScheduled else { return (false, false) }
            state.flushScheduled = true
            return (true, false)
        }
        if schedule { channel.eventLoop.execute { self.flush() } }
        if rest == nil {
            frame.completion?.succeed()
        } else if closed {
            frame.completion?.fail(LustreError(errno: ECONNRESET, "connection to \(peer) closed"))
        }
    }

    /// Writes every ready frame and flushes once. Runs on the event loop.
    ///
    /// Headers and small payloads of the whole batch go into one buffer (one
    /// allocation, one iovec); only large payloads are written as buffers of
    /// their own. One promise, on the batch's last write, returns the batch's
    /// credits and completes the senders' completions: writes complete in order,
    /// so the last one done means all are.
    private func flush() {
        let frames = state.withLock { state -> [Frame] in
            state.flushScheduled = false
            // A direct write in progress schedules the flush again when it is done.
            if state.directSending { return [] }
            var frames: [Frame] = []
            swap(&frames, &state.ready)
            if !frames.isEmpty { state.batchesInNIO += 1 }
            return frames
        }
        guard !frames.isEmpty else { return }
        var coalescedBytes = 0
        for frame in frames {
            coalescedBytes += LNetHeader.size
            frame.payload.forEachPart { part in
                if part.readableBytes <= Self.coalesceLimit { coalescedBytes += part.readableBytes }
            }
        }
        var head = channel.allocator.buffer(capacity: coalescedBytes)
        for frame in frames {
            frame.header?.encode(into: &head)
            frame.payload.forEachPart { part in
                if part.readableBytes <= Self.coalesceLimit {
                    head.writeImmutableBuffer(part)
                } else {
                    channel.write(head, promise: nil)
                    channel.write(part, promise: nil)
                    coalescedBytes -= head.readableBytes
                    head = channel.allocator.buffer(capacity: coalescedBytes)
                }
            }
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.whenComplete { result in
            self.state.withLock { $0.batchesInNIO -= 1 }
            self.returnCredits(frames.count)
            for frame in frames { frame.completion?.complete(with: result) }
        }
        // An empty buffer still carries the batch's promise, behind the last payload.
        channel.write(head, promise: written)
        channel.flush()
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
            if state.socket >= 0, !state.directSending {
                close(state.socket)
                state.socket = -1
            }
            let frames = state.ready + state.blocked
            state.ready = []
            state.blocked = []
            return frames
        }
        let error = LustreError(errno: ECONNRESET, "connection to \(peer) closed")
        for frame in frames { frame.completion?.fail(error) }
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
