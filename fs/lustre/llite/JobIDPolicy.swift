import LibCFS
import PtlRPC
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How this client names the job behind each request (Lustre's `jobid_var` and `jobid_name`,
/// `lustre_get_jobid`), so the servers' `job_stats` can account I/O per job:
///
/// | `jobid_var` | job id |
/// | --- | --- |
/// | `disable` (default) | none |
/// | `procname_uid` | `<process name>.<uid>` (`%e.%u`) |
/// | `nodelocal` | `jobid_name` expanded |
/// | any other text, e.g. `SLURM_JOB_ID` | that variable of the process's environment; `jobid_name` expanded when the process has none |
///
/// `jobid_name` (default `%e.%u`) is a format: `%e` process name, `%u` uid, `%g` gid, `%h`
/// hostname, `%H` hostname up to the first dot, `%p` pid, `%j` the `jobid_var` variable of the
/// environment; other characters are kept except whitespace, unknown `%x` are dropped. Job ids
/// are cut to 31 bytes, as on the wire.
///
/// Both are process-wide parameters (`lctl set_param jobid_var=SLURM_JOB_ID`), registered in
/// `ParamTree.shared` by `shared`.
public final class JobIDPolicy: Sendable {
    /// Where job ids come from (`jobid_var`).
    public enum Source: Sendable, Hashable, CustomStringConvertible {
        case disable
        case procnameUID
        case nodelocal
        /// An environment variable of the calling process.
        case environment(String)

        /// `JOBSTATS_JOBID_VAR_MAX_LEN`.
        public static let maxLength = 20

        /// Parses a `jobid_var` value; `EINVAL` for an empty, too long or malformed one.
        public init(parsing text: String) throws(LustreError) {
            let value = JobIDPolicy.trimmed(text)
            guard !value.isEmpty, value.utf8.count <= Self.maxLength else {
                throw LustreError.invalid("jobid_var '\(value)': 1 to \(Self.maxLength) characters")
            }
            switch value {
            case "disable": self = .disable
            case "procname_uid": self = .procnameUID
            case "nodelocal": self = .nodelocal
            case "session":
                throw LustreError.invalid("jobid_var=session (per-session job ids) is not supported")
            default:
                guard !value.contains(where: { $0 == "=" || $0.isWhitespace }) else {
                    throw LustreError.invalid("jobid_var '\(value)' is not an environment variable name")
                }
                self = .environment(value)
            }
        }

        public var description: String {
            switch self {
            case .disable: "disable"
            case .procnameUID: "procname_uid"
            case .nodelocal: "nodelocal"
            case .environment(let name): name
            }
        }
    }

    /// What a job id may be made of: the calling process as the client sees it.
    public struct Process: Sendable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
        /// Its name (`/proc/PID/comm`).
        public var name: String
        /// Its value of the `jobid_var` variable, nil when it has none.
        public var environmentJobID: String?

        public init(pid: Int32, uid: UInt32, gid: UInt32, name: String, environmentJobID: String?) {
            self.pid = pid
            self.uid = uid
            self.gid = gid
            self.name = name
            self.environmentJobID = environmentJobID
        }
    }

    /// `text` without surrounding whitespace (a `set_param` value may end in a newline).
    static func trimmed(_ text: String) -> String {
        String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }

    /// `LUSTRE_JOBID_SIZE` - 1.
    public static let maxNameLength = 31

    private struct Settings {
        var source: Source
        var nameFormat: String
        var generation: UInt64 = 0
    }

    private let settings: Mutex<Settings>
    private let hostname: String

    /// A policy with Lustre's defaults (`disable`, `%e.%u`), not registered anywhere.
    public init(source: Source = .disable, nameFormat: String = "%e.%u") {
        self.settings = Mutex(Settings(source: source, nameFormat: nameFormat))
        var buffer = [UInt8](repeating: 0, count: 256)
        let ok = buffer.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) } == 0
        self.hostname = ok ? String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self) : ""
    }

    /// The process's policy, with `jobid_var` and `jobid_name` in `ParamTree.shared`.
    public static let shared: JobIDPolicy = {
        let policy = JobIDPolicy()
        do {
            try ParamTree.shared.register("jobid_var", get: { policy.source.description },
                                          set: { text throws(LustreError) in policy.source = try Source(parsing: text) })
            try ParamTree.shared.register("jobid_name", get: { policy.nameFormat },
                                          set: { text throws(LustreError) in try policy.setNameFormat(text) })
        } catch {
            CWARN("jobid_var/jobid_name not registered: \(error)")
        }
        return policy
    }()

    /// `jobid_var`.
    public var source: Source {
        get { settings.withLock { $0.source } }
        set {
            settings.withLock { settings in
                settings.source = newValue
                settings.generation &+= 1
            }
        }
    }

    /// `jobid_name`.
    public var nameFormat: String { settings.withLock { $0.nameFormat } }

    /// Changes with every change of either setting, so callers may cache job ids per setting.
    public var generation: UInt64 { settings.withLock { $0.generation } }

    /// Sets `jobid_name`; `EINVAL` if empty or longer than 31 bytes.
    public func setNameFormat(_ text: String) throws(LustreError) {
        let value = JobIDPolicy.trimmed(text)
        guard !value.isEmpty, value.utf8.count <= Self.maxNameLength else {
            throw LustreError.invalid("jobid_name '\(value)': 1 to \(Self.maxNameLength) bytes")
        }
        settings.withLock { settings in
            settings.nameFormat = value
            settings.generation &+= 1
        }
    }

    /// The environment variable to look up for a process, if the settings need one.
    public var environmentVariable: String? {
        settings.withLock { settings in
            if case .environment(let name) = settings.source { return name }
            return nil
        }
    }

    /// Whether any job id is made at all (not `disable`): callers skip looking at the process
    /// when not.
    public var isEnabled: Bool { source != .disable }

    /// The job id of `process` under the current settings (`lustre_get_jobid`); empty for none.
    public func jobID(for process: Process) -> String {
        let (source, format) = settings.withLock { ($0.source, $0.nameFormat) }
        switch source {
        case .disable:
            return ""
        case .procnameUID:
            return expand("%e.%u", process)
        case .nodelocal:
            return expand(format, process)
        case .environment:
            if !format.contains("%j"), let value = process.environmentJobID, !value.isEmpty {
                return PtlRPCJobID.truncated(value)
            }
            return expand(format, process)
        }
    }

    /// `format` with its `%` fields filled in for `process` (`jobid_interpret_string`).
    public func expand(_ format: String, _ process: Process) -> String {
        var out = ""
        var characters = format.makeIterator()
        while let c = characters.next() {
            if c.isWhitespace { continue }
            guard c == "%" else {
                out.append(c)
                continue
            }
            guard let field = characters.next() else { break }
            switch field {
            case "e": out += process.name
            case "g": out += String(process.gid)
            case "h": out += hostname
            case "H": out += hostname.prefix { $0 != "." }
            case "j": out += process.environmentJobID ?? ""
            case "p": out += String(process.pid)
            case "u": out += String(process.uid)
            default: break
            }
        }
        return PtlRPCJobID.truncated(out)
    }
}
