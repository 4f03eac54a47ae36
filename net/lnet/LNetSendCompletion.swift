import NIOCore

/// Who hears how a send ended.
///
/// A promise completed from a thread other than its event loop's wakes that loop to run its
/// callbacks; a send written from the sender's own thread would pay that wake-up on every
/// success. A caller that only needs to hear of failures (a PtlRPC request, which learns of
/// success from its reply) gives `onFailure`, which costs nothing when the send succeeds.
enum LNetSendCompletion: Sendable {
    /// Completed when the kernel has the bytes, or failed.
    case promise(EventLoopPromise<Void>)
    /// Called, from whichever thread met it, only if the send fails.
    case onFailure(@Sendable (any Error) -> Void)

    func succeed() {
        if case .promise(let promise) = self { promise.succeed() }
    }

    func fail(_ error: any Error) {
        switch self {
        case .promise(let promise): promise.fail(error)
        case .onFailure(let report): report(error)
        }
    }

    func complete(with result: Result<Void, any Error>) {
        switch result {
        case .success: succeed()
        case .failure(let error): fail(error)
        }
    }

    /// The loop to run on when the send itself needs one (a message to ourselves).
    var eventLoop: (any EventLoop)? {
        if case .promise(let promise) = self { return promise.futureResult.eventLoop }
        return nil
    }
}
