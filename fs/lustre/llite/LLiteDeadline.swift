import LibCFS
import Synchronization

/// Runs `body` and returns its result, or fails with ETIMEDOUT once `seconds` have passed
/// without one (the body is cancelled and left to finish; a result that still arrives goes to
/// `late`, so what it set up can be torn down). Bounds the time of operations, such as a
/// mount, that involve several servers.
func withDeadline<T: Sendable>(seconds: Double, _ what: String, late: @escaping @Sendable (T) -> Void = { _ in },
                               _ body: @escaping @Sendable () async throws(LustreError) -> T) async throws(LustreError) -> T {
    let race = LLiteDeadlineRace<T>()
    let outcome = await withCheckedContinuation { (waiter: CheckedContinuation<Result<T, LustreError>, Never>) in
        race.continuation.withLock { $0 = waiter }
        let work = Task {
            let result: Result<T, LustreError>
            do throws(LustreError) { result = .success(try await body()) } catch { result = .failure(error) }
            if !race.finish(result), case .success(let value) = result { late(value) }
        }
        Task {
            try? await Task.sleep(nanoseconds: UInt64(max(seconds, 0) * 1e9))
            if race.finish(.failure(LustreError.timedOut("\(what): no answer within \(seconds) s"))) { work.cancel() }
        }
    }
    return try outcome.get()
}

/// Who of the body and the timer answers first.
private final class LLiteDeadlineRace<T: Sendable>: Sendable {
    let continuation = Mutex<CheckedContinuation<Result<T, LustreError>, Never>?>(nil)

    init() {}

    /// Resumes the waiter once; false if it was resumed already.
    func finish(_ result: Result<T, LustreError>) -> Bool {
        guard let waiter = continuation.withLock({ value in defer { value = nil }; return value }) else { return false }
        waiter.resume(returning: result)
        return true
    }
}
