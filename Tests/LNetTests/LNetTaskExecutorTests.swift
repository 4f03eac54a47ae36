import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import LNet

#if canImport(Glibc)
import Glibc
#endif

/// A task preferring an `LNetTaskExecutor` starts where `Task.immediate` is called and, once
/// it waits for something completed on the loop, goes on running on that loop.
@Suite struct LNetTaskExecutorTests {
    @Test func immediateTaskStartsOnTheCallerAndResumesOnTheLoop() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let executor = LNetTaskExecutor(eventLoop: loop)
        let seen = Mutex<(startedOnCaller: Bool, resumedOnLoop: Bool, jobs: Int)>((false, false, 0))
        let done = loop.makePromise(of: Void.self)
        let caller = pthread_self()
        let task = Task.immediate(executorPreference: executor) {
            let onCaller = pthread_equal(pthread_self(), caller) != 0
            // A reply completed by the loop's own thread, as LNet completes one.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                loop.execute { continuation.resume() }
            }
            // Resumed on the loop, or never suspended: the loop may resume the continuation
            // before the task got to suspend (a loaded machine), and then it goes on where it was.
            let onLoop = loop.inEventLoop || pthread_equal(pthread_self(), caller) != 0
            // A second wait, which always suspends, resumes on the loop.
            try? await Task.sleep(for: .milliseconds(1))
            seen.withLock { $0 = (onCaller, onLoop && loop.inEventLoop, $0.jobs + 1) }
            done.succeed()
        }
        try await done.futureResult.get()
        await task.value
        let result = seen.withLock { $0 }
        #expect(result.startedOnCaller, "the task did not start on the thread that made it")
        #expect(result.resumedOnLoop, "the task did not resume on the executor's loop")
        #expect(result.jobs == 1)
    }
}
