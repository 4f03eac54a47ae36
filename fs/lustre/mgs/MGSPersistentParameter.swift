import Glibc
import LibCFS
import ObdClass

/// `lctl set_param -P NAME=VALUE` at the MGS: which filesystems a parameter belongs to, and
/// recording or deleting it in their configurations.
///
/// Lustre keeps every `-P` record in one `params` log read by all clients and servers of the MGS,
/// and names the target from the parameter's device part (`mgs_set_param2`:
/// `osc.testfs-OST0000-osc-*.max_dirty_mb` → device `testfs-OST0000-osc-*`, filesystem `testfs`).
/// Here parameters live in each filesystem's configuration, so the device part decides where:
///
/// - a device part with a `-` names the filesystem before the `-` (fsnames hold no `-`):
///   `testfs-OST0000-osc-*` and `testfs-*` are `testfs`; a glob there (`*-MDT0000`) picks every
///   filesystem it matches;
/// - no device part (`jobid_var`, `debug`, two components as `lnet.debug`) or one without a `-`
///   (`osc.*.max_dirty_mb`, `ldlm.namespaces.*.lru_size`): every filesystem of the MGS, as
///   Lustre's global log reaches every node.
public enum MGSPersistentParameter {
    /// The filesystem pattern of `name`, or nil when it applies to every filesystem.
    public static func fsnamePattern(of name: String) -> String? {
        let components = name.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard components.count == 3, let dash = components[1].firstIndex(of: "-") else { return nil }
        let fsname = components[1][..<dash]
        return fsname.isEmpty ? nil : String(fsname)
    }

    /// The filesystems of `known` that `name` belongs to.
    ///
    /// - Throws: `ENOENT` when the name's filesystem is not among them, or there is none at all.
    public static func filesystems(for name: String, known: [String]) throws(LustreError) -> [String] {
        guard let pattern = fsnamePattern(of: name) else {
            guard !known.isEmpty else {
                throw LustreError(errno: ENOENT, "the MGS knows no filesystem yet (no target has registered)")
            }
            return known
        }
        let matched = known.filter { fnmatch(pattern, $0, 0) == 0 }
        guard !matched.isEmpty else {
            throw LustreError(errno: ENOENT, "the MGS knows no filesystem named '\(pattern)' (from '\(name)')")
        }
        return matched
    }

    /// Checks what the configuration file and the wire can carry: a name without `=`, spaces or
    /// newlines, a one-line value, both within the configuration's caps.
    public static func validate(name: String, value: String?) throws(LustreError) {
        guard !name.isEmpty, !name.contains(where: { $0 == "=" || $0 == "\n" || $0 == " " || $0 == "\t" }) else {
            throw .invalid("bad parameter name '\(name)'")
        }
        guard name.utf8.count <= FilesystemConfiguration.maxParameterNameLength else {
            throw .invalid("parameter name longer than \(FilesystemConfiguration.maxParameterNameLength) bytes")
        }
        if let value {
            guard !value.contains("\n") else { throw .invalid("\(name): a value of several lines cannot be kept") }
            guard value.utf8.count <= FilesystemConfiguration.maxParameterValueLength else {
                throw .invalid("\(name): value longer than \(FilesystemConfiguration.maxParameterValueLength) bytes")
            }
        }
    }
}

extension MGSDevice {
    /// `lctl set_param -P name=value` (or, with nil, `-P -d name`): records the parameter in the
    /// configuration of each filesystem it belongs to (`MGSPersistentParameter`), durably, and
    /// returns those filesystems. Their clients and servers learn it with the new generation.
    ///
    /// - Throws: `EINVAL` for a name or value that cannot be kept; `ENOENT` when no filesystem
    ///   matches, or on delete when none of them holds the parameter.
    @discardableResult
    public func setPersistentParameter(_ name: String, value: String?) async throws(LustreError) -> [String] {
        try MGSPersistentParameter.validate(name: name, value: value)
        var targets = try MGSPersistentParameter.filesystems(for: name, known: fsnames)
        if value == nil {
            targets = targets.filter { (try? configuration(fsname: $0).parameters[name]) != nil }
            guard !targets.isEmpty else {
                throw LustreError(errno: ENOENT, "no persistent parameter '\(name)' on the MGS")
            }
        }
        for fsname in targets {
            if value != nil, (try? configuration(fsname: fsname).parameters.count) ?? 0
                >= FilesystemConfiguration.maxParameters,
               (try? configuration(fsname: fsname).parameters[name]) == nil {
                throw LustreError(errno: ENOSPC, "\(fsname) already has \(FilesystemConfiguration.maxParameters) persistent parameters")
            }
            try await setParameter(fsname: fsname, name: name, value: value)
            LCONSOLE("MGS: \(fsname): " + (value.map { "set_param -P \(name)=\($0)" } ?? "set_param -P -d \(name)"))
        }
        return targets
    }
}
