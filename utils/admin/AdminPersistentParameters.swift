import Dispatch
import LibCFS
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a daemon hosting the MGS offers `lctl set_param -P`: recording a parameter for the
/// filesystems it belongs to (or deleting it), durably.  `lustre-mds` gives its `MGSDevice`;
/// daemons without an MGS give nothing and answer `ENODEV`.
public protocol AdminPersistentParameters: Sendable {
    /// Records `name=value` (nil: deletes `name`) and returns the filesystems it was recorded for.
    func setPersistent(_ name: String, value: String?) async throws(LustreError) -> [String]
}

extension AdminPersistentParameters {
    /// `setPersistent` from the admin server's own thread, which may block (it is never an event
    /// loop or a thread of the concurrency pool): the work runs as a task and the thread waits.
    func setPersistentBlocking(_ name: String, value: String?) -> Result<[String], LustreError> {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<[String], LustreError>?>(nil)
        Task {
            let outcome: Result<[String], LustreError>
            do throws(LustreError) {
                outcome = .success(try await setPersistent(name, value: value))
            } catch {
                outcome = .failure(error)
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return result.withLock { $0 } ?? .failure(LustreError(errno: EIO, "set_param -P \(name): no result"))
    }
}
