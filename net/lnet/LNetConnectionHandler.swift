#if canImport(Glibc)
import Glibc
#endif
import LibCFS
import NIOCore

/// Drives one socket LND connection: the hello exchange, then delivery of
/// frames to the LNet instance, keepalives and dead-peer detection.
final class LNetConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = LNetInbound
    typealias OutboundOut = ByteBuffer

    enum Role {
        /// We connected: we speak first and expect this peer to answer.
        case active(peer: ProcessID, type: LNetConnectionType, established: EventLoopPromise<LNetConnection>)
        /// The acceptor took the connection: we wait for the peer's hello.
        case passive
    }

    private let lnet: LNetInstance
    private var role: Role
    private var connection: LNetConnection?
    private var remote: String = "?"

    init(lnet: LNetInstance, role: Role) {
        self.lnet = lnet
        self.role = role
    }

    func channelActive(context: ChannelHandlerContext) {
        remote = context.channel.remoteAddress.map { "\($0)" } ?? "?"
        if case .active(let peer, let type, _) = role {
            var buffer = context.channel.allocator.buffer(capacity: LNetHello.size)
            lnet.hello(type: type, to: peer).encode(into: &buffer)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .hello(let hello):
            handshake(hello, context: context)
        case .message(let message):
            guard let connection else {
                fail(context: context, LustreError.protocolError("LNet message before hello"))
                return
            }
            lnet.deliver(message, on: connection)
        case .noop:
            break
        }
    }

    private func handshake(_ hello: LNetHello, context: ChannelHandlerContext) {
        do {
            try lnet.validate(hello, expected: expectedPeer)
        } catch {
            fail(context: context, error)
            return
        }
        var helloWritten: EventLoopFuture<Void>?
        if case .passive = role {
            var buffer = context.channel.allocator.buffer(capacity: LNetHello.size)
            lnet.hello(type: hello.connectionType, to: hello.source).encode(into: &buffer)
            helloWritten = context.writeAndFlush(wrapOutboundOut(buffer))
        }
        let connection = lnet.register(channel: context.channel, hello: hello)
        self.connection = connection
        // Frames may bypass NIO once our hello is out: the peer answering ours means it is.
        let channel = context.channel
        let enable = { @Sendable in
            if let socket = LNetSocketDescriptor.duplicate(of: channel) {
                connection.enableDirectSend(socket: socket)
            } else {
                CDEBUG(.net, "no socket descriptor found for \(connection.peer): sending through the event loop only")
            }
        }
        if let helloWritten {
            helloWritten.whenSuccess(enable)
        } else {
            enable()
        }
        if case .active(_, _, let established) = role {
            role = .passive // the promise is completed exactly once
            established.succeed(connection)
        }
    }

    private var expectedPeer: ProcessID? {
        if case .active(let peer, _, _) = role { return peer }
        return nil
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let idle = event as? IdleStateHandler.IdleStateEvent else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        switch idle {
        case .write:
            if let connection {
                connection.send(LNetHeader.noop(from: lnet.processID, to: connection.peer), payload: .none, completion: nil)
            }
        case .read:
            let who = connection.map { "\($0.peer)" } ?? remote
            CNETERR("no traffic from \(who) for \(lnet.configuration.peerTimeout) s: peer presumed dead, closing")
            context.close(promise: nil)
        case .all:
            break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context: context, error)
    }

    private func fail(context: ChannelHandlerContext, _ error: Error) {
        let who = connection.map { "\($0.peer)" } ?? remote
        if let error = error as? IOError, error.errnoCode == ECONNRESET || error.errnoCode == EPIPE {
            CDEBUG(.net, "connection with \(who) reset")
        } else {
            CNETERR("closing connection with \(who): \(error)")
        }
        if case .active(_, _, let established) = role {
            role = .passive
            established.fail(error)
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let connection {
            lnet.unregister(connection)
        } else if case .active(let peer, _, let established) = role {
            role = .passive
            established.fail(lnet.isStopped
                ? LustreError(errno: ESHUTDOWN, "LNet is shutting down")
                : LustreError(errno: ECONNREFUSED, "\(peer) closed the connection during hello"))
        }
        context.fireChannelInactive()
    }
}
