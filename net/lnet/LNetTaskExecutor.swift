import NIOCore
import NIOPosix

/// A Swift task executor that runs its jobs on one NIO event loop.
///
/// A task that prefers it (`Task(executorPreference:)`, `withTaskExecutorPreference`) and waits
/// for a reply arriving on that loop resumes right there, after the loop has read the reply,
/// instead of waking a thread of the global pool to run the rest: one thread hand-off less per
/// RPC. Only for work that never blocks: whatever the task does after such a wait holds up every
/// connection of the loop.
public final class LNetTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        // Jobs always go through the loop's queue, never run inside enqueue: the caller may hold
        // a lock (a continuation resumed under one) that the job takes again.
        let job = UnownedJob(job)
        eventLoop.execute { [self] in
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}

extension LNetInstance {
    /// One executor per loop of the (process-wide) event loop group, made once.
    private static let taskExecutors: [ObjectIdentifier: LNetTaskExecutor] = {
        var executors: [ObjectIdentifier: LNetTaskExecutor] = [:]
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
            executors[ObjectIdentifier(loop)] = LNetTaskExecutor(eventLoop: loop)
        }
        return executors
    }()

    /// The task executor of the loop that reads `peer`'s replies (`eventLoop(for:)`).
    public func taskExecutor(for peer: ProcessID) -> LNetTaskExecutor {
        let loop = eventLoop(for: peer)
        return Self.taskExecutors[ObjectIdentifier(loop)] ?? LNetTaskExecutor(eventLoop: loop)
    }
}
