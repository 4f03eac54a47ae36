import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The survey over RPC: every thread is a task doing its operations through the one MDC, one
/// at a time, in a directory of its own.
struct RemoteSurvey: Sendable {
    let session: MDSSession
    let dir: String
    let threads: Int
    let files: Int
    let stripeCount: Int
    let operations: [SurveyOperation]

    private var credentials: MDTCredentials { .root }

    /// Runs the phases in order; a phase not asked for but needed (create, destroy) runs untimed.
    func run() async throws(LustreError) -> [PhaseResult] {
        let mdc = session.mdc
        let base = try await lookupOrMakeDirectory(parent: session.root, name: dir)
        let runName = "run-\(getpid())"
        let runDir = try await mdc.create(parent: base, name: runName, kind: .directory, mode: 0o755,
                                          credentials: credentials, layout: nil, exclusive: true).0.fid
        var threadDirs: [LustreFID] = []
        for thread in 0..<threads {
            threadDirs.append(try await mdc.create(parent: runDir, name: "thread-\(thread)", kind: .directory,
                                                   mode: 0o755, credentials: credentials, layout: nil,
                                                   exclusive: true).0.fid)
        }
        let dirs = threadDirs
        let table = FIDTable(threads: threads, files: files)
        var results: [PhaseResult] = []
        for operation in SurveyOperation.allCases {
            let timed = operations.contains(operation)
            guard timed || operation == .create || operation == .destroy else { continue }
            let result = await phase(operation, dirs: dirs, table: table)
            if timed {
                SurveyReport.printPhase(result)
                results.append(result)
            } else if result.errors > 0 {
                throw LustreError(errno: EIO, "untimed \(operation.rawValue): \(result.errors) errors (first: \(result.firstError ?? "?"))")
            }
        }
        for thread in dirs.indices {
            try await mdc.rmdir(parent: runDir, name: "thread-\(thread)", credentials: credentials)
        }
        try await mdc.rmdir(parent: base, name: runName, credentials: credentials)
        return results
    }

    /// One timed phase: all threads start together; the phase ends when the last one is done.
    private func phase(_ operation: SurveyOperation, dirs: [LustreFID], table: FIDTable) async -> PhaseResult {
        let mdc = session.mdc
        let credentials = self.credentials
        let files = self.files
        let stripeCount = self.stripeCount
        let kind: MDTCreateKind = stripeCount == 0 ? .node(rdev: 0) : .file
        let mode: UInt32 = stripeCount == 0 ? UInt32(S_IFREG) | 0o644 : 0o644
        let layout: LustreLayout? = stripeCount == 0 ? nil : LustreLayout(stripeCount: UInt16(stripeCount))
        let setattr = MDTSetattr(valid: [.mode], mode: 0o600)
        let started = MonotonicClock.nanoseconds()
        var result = PhaseResult(operation: operation)
        await withTaskGroup(of: PhaseResult.self) { group in
            for (thread, parent) in dirs.enumerated() {
                group.addTask {
                    var mine = PhaseResult(operation: operation)
                    for index in 0..<files {
                        let name = "f\(index)"
                        do throws(LustreError) {
                            switch operation {
                            case .create:
                                let (attributes, made) = try await mdc.create(parent: parent, name: name, kind: kind, mode: mode,
                                                                              credentials: credentials, layout: layout,
                                                                              exclusive: true)
                                table.set(attributes.fid, thread: thread, index: index)
                                // The layout must name exactly the objects asked for (none for stripe count 0).
                                let objects = made?.objects.count ?? 0
                                guard objects == stripeCount else {
                                    throw LustreError(errno: EIO, "create of \(name) gave \(objects) objects, asked \(stripeCount)")
                                }
                            case .lookup:
                                guard let fid = table.get(thread: thread, index: index) else { continue }
                                let (attributes, _) = try await mdc.lookup(parent: parent, name: name, credentials: credentials)
                                guard attributes.fid == fid else {
                                    throw LustreError(errno: EIO, "lookup of \(name) gave \(attributes.fid), created as \(fid)")
                                }
                            case .getattr:
                                guard let fid = table.get(thread: thread, index: index) else { continue }
                                let attributes = try await mdc.getattr(fid, credentials: credentials)
                                guard attributes.fid == fid, attributes.isRegular else {
                                    throw LustreError(errno: EIO, "getattr of \(fid) gave \(attributes.fid) mode 0o\(String(attributes.mode, radix: 8))")
                                }
                            case .setattr:
                                guard let fid = table.get(thread: thread, index: index) else { continue }
                                let attributes = try await mdc.setattr(fid, setattr, credentials: credentials)
                                guard attributes.mode & 0o7777 == 0o600 else {
                                    throw LustreError(errno: EIO, "chmod 600 of \(fid) left mode 0o\(String(attributes.mode, radix: 8))")
                                }
                            case .destroy:
                                guard table.get(thread: thread, index: index) != nil else { continue }
                                try await mdc.unlink(parent: parent, name: name, credentials: credentials)
                            }
                            mine.done += 1
                        } catch {
                            mine.errors += 1
                            if mine.firstError == nil { mine.firstError = "\(name): \(error)" }
                        }
                    }
                    return mine
                }
            }
            for await part in group {
                result.done += part.done
                result.errors += part.errors
                if result.firstError == nil { result.firstError = part.firstError }
            }
        }
        result.seconds = Double(MonotonicClock.nanoseconds() - started) / 1e9
        return result
    }

    /// The survey's top directory, made if missing (another survey may make it at the same time).
    private func lookupOrMakeDirectory(parent: LustreFID, name: String) async throws(LustreError) -> LustreFID {
        do throws(LustreError) {
            let (attributes, _) = try await session.mdc.lookup(parent: parent, name: name, credentials: credentials)
            guard attributes.isDirectory else { throw LustreError(errno: ENOTDIR, "/\(name)") }
            return attributes.fid
        } catch where error.errno == ENOENT {
            do throws(LustreError) {
                return try await session.mdc.create(parent: parent, name: name, kind: .directory, mode: 0o755,
                                                    credentials: credentials, layout: nil, exclusive: true).0.fid
            } catch where error.errno == EEXIST {
                return try await session.mdc.lookup(parent: parent, name: name, credentials: credentials).0.fid
            }
        }
    }
}
