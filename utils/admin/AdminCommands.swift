import LibCFS
import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// What a daemon answers on its admin socket: the commands `lctl` sends, run against the
/// process's `ParamTree`, `ObdDeviceRegistry` and debug ring.
///
/// | request fields | reply fields |
/// | --- | --- |
/// | `info` | daemon name, pid |
/// | `dl` | 6 per device: index, status, type, name, uuid, refcount |
/// | `get_param PATTERN` | 2 per match: name, value |
/// | `list_param PATTERN` | 2 per match: name, `1` if writable else `0` |
/// | `set_param PATTERN VALUE` | the names set |
/// | `check_param PATTERN VALUE` | the names whose validation passed (nothing is set) |
/// | `set_param_perm NAME VALUE` | the filesystems the MGS recorded it for (`ENODEV`: no MGS here) |
/// | `del_param_perm NAME` | the filesystems it was deleted from |
/// | `dk 0\|1` | the debug ring's lines (1: cleared in the same step) |
/// | `clear` | nothing |
///
/// Errors come back as a failed reply (errno + message): `ENOENT` when a pattern matches
/// nothing, `EINVAL` for a rejected value (the old value is kept), `EACCES` for a read-only
/// parameter, `EOPNOTSUPP` for an unknown command.
public struct AdminCommands: Sendable {
    /// The daemon's name (`lustre-oss`).
    public let daemon: String
    /// The tree served (the process's `ParamTree.shared` in daemons).
    public let params: ParamTree
    /// The devices listed by `dl`.
    public let devices: ObdDeviceRegistry
    /// The MGS's `set_param -P` records, in the daemon hosting the MGS; nil elsewhere.
    public let persistent: (any AdminPersistentParameters)?

    /// Commands over the given tree and registry.
    public init(daemon: String, params: ParamTree = .shared, devices: ObdDeviceRegistry = .shared,
                persistent: (any AdminPersistentParameters)? = nil) {
        self.daemon = daemon
        self.params = params
        self.devices = devices
        self.persistent = persistent
    }

    /// Runs one request; every failure becomes a failed reply.
    public func handle(_ request: AdminMessage) -> AdminMessage {
        do throws(LustreError) {
            return .reply(try run(request))
        } catch {
            return .failure(error)
        }
    }

    private func run(_ request: AdminMessage) throws(LustreError) -> [String] {
        guard request.kind == .request else { throw .protocolError("expected a request, got a reply frame") }
        guard let command = request.fields.first else { throw .protocolError("empty admin request") }
        let arguments = Array(request.fields.dropFirst())
        func expect(_ count: Int) throws(LustreError) {
            guard arguments.count == count else {
                throw .invalid("\(command) takes \(count) argument\(count == 1 ? "" : "s"), got \(arguments.count)")
            }
        }
        switch command {
        case "info":
            try expect(0)
            return [daemon, String(getpid())]
        case "dl":
            try expect(0)
            return devices.devices.flatMap {
                [String($0.index), $0.status, $0.type, $0.name, $0.uuid, String($0.refcount)]
            }
        case "get_param":
            try expect(1)
            return try params.get(arguments[0]).flatMap { [$0.name, $0.value] }
        case "list_param":
            try expect(1)
            let found = params.list(arguments[0])
            guard !found.isEmpty else { throw LustreError(errno: ENOENT, "param_path '\(arguments[0])'") }
            return found.flatMap { [$0.name, $0.isWritable ? "1" : "0"] }
        case "set_param":
            try expect(2)
            let names = try params.set(arguments[0], value: arguments[1])
            CDEBUG(.config, "admin: set_param \(arguments[0])=\(arguments[1]) (\(names.count) set)")
            return names
        case "check_param":
            try expect(2)
            return try params.check(arguments[0], value: arguments[1])
        case "set_param_perm", "del_param_perm":
            try expect(command == "set_param_perm" ? 2 : 1)
            guard let persistent else { throw LustreError(errno: ENODEV, "\(daemon) hosts no MGS") }
            let value = command == "set_param_perm" ? arguments[1] : nil
            let fsnames = try persistent.setPersistentBlocking(arguments[0], value: value).get()
            CDEBUG(.config, "admin: \(command) \(arguments.joined(separator: "=")) for \(fsnames.joined(separator: ","))")
            return fsnames
        case "dk":
            try expect(1)
            guard arguments[0] == "0" || arguments[0] == "1" else { throw .invalid("dk takes 0 or 1, got '\(arguments[0])'") }
            return LustreDebug.dump(clear: arguments[0] == "1")
        case "clear":
            try expect(0)
            LustreDebug.clear()
            return []
        default:
            throw .notSupported("unknown admin command '\(command)'")
        }
    }
}
