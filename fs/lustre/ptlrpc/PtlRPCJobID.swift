/// The job a request is made for (`lustre_msg_set_jobid`): every `PtlRPCImport.call` made
/// without an explicit job id carries the one of the task it runs in, so the servers'
/// `job_stats` can say which job did what.
///
/// It is a task-local value rather than a parameter of every client call because it belongs to
/// the caller's whole operation, down to RPCs several layers below (an MDC getattr inside a
/// client getattr, an OST glimpse inside it): mount.lustre sets it per FUSE request from the
/// calling process, library users around their own calls.
///
/// ```swift
/// try await PtlRPCJobID.$current.withValue("job42") { try await file.write(offset: 0, data: data) }
/// ```
///
/// Work that outlives the call (write-back of cached pages) must capture `current` when the
/// data is written and pass it explicitly when the RPC leaves, as Lustre's write-back RPCs carry
/// the job id of the writer.
public enum PtlRPCJobID {
    /// The job id of the running task; empty: none (not accounted by the servers).
    @TaskLocal public static var current = ""

    /// Longest job id on the wire (`LUSTRE_JOBID_SIZE` - 1).
    public static let maxLength = 31

    /// `text` cut to at most `maxLength` bytes at a character boundary.
    public static func truncated(_ text: String) -> String {
        guard text.utf8.count > maxLength else { return text }
        var result = ""
        for character in text {
            if result.utf8.count + character.utf8.count > maxLength { break }
            result.append(character)
        }
        return result
    }
}
