/// What an engine implementation provides; `IOEngineHandle` turns it into the public `IOEngine`.
///
/// Backends are driven from inside `withUnsafeContinuation`, so they never suspend: they queue
/// or submit, and complete each target exactly once, from their own threads (or inline, for a
/// request refused at submission).
protocol IOBackend: AnyObject, Sendable {
    var kind: IOEngineKind { get }
    /// Starts one request; `target` is completed with bytes transferred or `-errno`.
    func start(_ request: IORequest, _ target: IOCompletionTarget)
    /// Starts every request of a batch, preferring one submission for all of them.
    func start(_ requests: [IORequest], _ batch: IOBatch)
    /// Refuses new requests, waits for the accepted ones, stops the backend's threads and frees
    /// kernel resources.  Idempotent.
    func shutdown()
    /// Kernel ids of the backend's live threads (empty after shutdown), so tests can check
    /// `/proc/self/task` that nothing outlives the engine.
    var threadIDs: [Int32] { get }
}
