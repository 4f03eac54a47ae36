import LibCFS
import PtlRPC

extension LustreClient {
    /// Runs `body` as job `jobID` (cut to 31 bytes): every RPC it causes carries it, to the MDT
    /// and the OSTs, including writes of its data that leave later from the write-back cache.
    /// For library users; mount.lustre sets the job of each request from the calling process
    /// (`JobIDPolicy`).
    public static func withJobID<T>(_ jobID: String, _ body: () async throws(LustreError) -> T)
        async throws(LustreError) -> T {
        let result: Result<T, LustreError> = await PtlRPCJobID.$current.withValue(PtlRPCJobID.truncated(jobID)) {
            do throws(LustreError) {
                return .success(try await body())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
