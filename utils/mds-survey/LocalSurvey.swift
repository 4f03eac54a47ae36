import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The baseline: the same phases on a local directory through the kernel, each thread an OS
/// thread (these syscalls block, and the concurrency pool has only a thread per core), each in
/// its own directory: create = open(O_CREAT|O_EXCL)/close, lookup = fstatat without following,
/// getattr = stat by path, setattr = fchmodat, destroy = unlinkat.
struct LocalSurvey: Sendable {
    let root: String
    let dir: String
    let threads: Int
    let files: Int
    let operations: [SurveyOperation]

    func run() async throws(LustreError) -> [PhaseResult] {
        let base = root + "/" + dir
        if mkdir(base, 0o755) != 0 && errno != EEXIST { throw LustreError.fromErrno("mkdir \(base)") }
        let runDir = base + "/run-\(getpid())"
        guard mkdir(runDir, 0o755) == 0 else { throw LustreError.fromErrno("mkdir \(runDir)") }
        var paths: [String] = []
        for thread in 0..<threads {
            let path = runDir + "/thread-\(thread)"
            guard mkdir(path, 0o755) == 0 else { throw LustreError.fromErrno("mkdir \(path)") }
            paths.append(path)
        }
        var results: [PhaseResult] = []
        for operation in SurveyOperation.allCases {
            let timed = operations.contains(operation)
            guard timed || operation == .create || operation == .destroy else { continue }
            let result = try await phase(operation, paths: paths)
            if timed {
                SurveyReport.printPhase(result)
                results.append(result)
            } else if result.errors > 0 {
                throw LustreError(errno: EIO, "untimed \(operation.rawValue): \(result.errors) errors (first: \(result.firstError ?? "?"))")
            }
        }
        for path in paths { rmdir(path) }
        rmdir(runDir)
        rmdir(base)   // only if empty: other runs may share it
        return results
    }

    private func phase(_ operation: SurveyOperation, paths: [String]) async throws(LustreError) -> PhaseResult {
        let files = self.files
        let started = MonotonicClock.nanoseconds()
        let parts = try await BlockingThreads.run(count: paths.count) { thread in
            Self.work(operation, directory: paths[thread], files: files)
        }
        var result = PhaseResult(operation: operation)
        result.seconds = Double(MonotonicClock.nanoseconds() - started) / 1e9
        for part in parts {
            result.done += part.done
            result.errors += part.errors
            if result.firstError == nil { result.firstError = part.firstError }
        }
        return result
    }

    /// One thread's share of a phase, in blocking syscalls.
    private static func work(_ operation: SurveyOperation, directory: String, files: Int) -> PhaseResult {
        var mine = PhaseResult(operation: operation)
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY)
        guard dirfd >= 0 else {
            mine.errors = files
            mine.firstError = "\(LustreError.fromErrno("open \(directory)"))"
            return mine
        }
        defer { close(dirfd) }
        var st = stat()
        for index in 0..<files {
            let name = "f\(index)"
            let rc: Int32
            switch operation {
            case .create:
                let fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o644)
                rc = fd < 0 ? -1 : close(fd)
            case .lookup:
                rc = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)
            case .getattr:
                rc = stat(directory + "/" + name, &st)
            case .setattr:
                rc = fchmodat(dirfd, name, 0o600, 0)
            case .destroy:
                rc = unlinkat(dirfd, name, 0)
            }
            if rc == 0 {
                mine.done += 1
            } else {
                mine.errors += 1
                if mine.firstError == nil { mine.firstError = "\(LustreError.fromErrno("\(operation.rawValue) \(directory)/\(name)"))" }
            }
        }
        return mine
    }
}
