import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Applies the `lctl set_param -P` parameters of the filesystems this process takes part in to
/// its parameter tree, as Lustre's MGC applies the `params` log's records on every node: each
/// name is a glob (`osc.testfs-OST0000-osc-*.max_dirty_mb`), set on every local parameter it
/// matches.
///
/// A parameter is set once per local name and value: again when the MGS's value changes, and on
/// names registered later (an OSC for an OST added later) at the next `update` or `reapply`, but
/// not over a local `lctl set_param` made since, as Lustre only replays log records it has not
/// processed. A deleted parameter is no longer applied; the value it set stays until changed or
/// restarted (Lustre does not restore the old value either). A value a local parameter refuses
/// is logged (CWARN) once, not fatal.
///
/// Used by mount.lustre (configurations from its MGC watch), lustre-oss (an MGC watch of its
/// targets' filesystems) and lustre-mds (its own MGS's configurations).
public final class MGCParameters: Sendable {
    private let tree: ParamTree
    private struct State {
        /// Each filesystem's parameters, as the newest configuration has them.
        var parameters: [String: [String: String]] = [:]
        /// Local name → the value last applied to it (or refused).
        var applied: [String: String] = [:]
    }
    private let state = Mutex(State())

    /// Applies to `tree` (the process's `ParamTree.shared` in daemons).
    public init(tree: ParamTree = .shared) {
        self.tree = tree
    }

    /// Takes `configuration`'s parameters as its filesystem's, and applies them.
    @discardableResult
    public func update(_ configuration: FilesystemConfiguration) -> [String] {
        state.withLock { $0.parameters[configuration.fsname] = configuration.parameters }
        return reapply()
    }

    /// Applies every known parameter to the local names not set to its value yet (call after
    /// setting up devices). Returns the local names set.
    @discardableResult
    public func reapply() -> [String] {
        state.withLock { state in
            // Names unregistered since (a device cleaned up) are forgotten: a new device of the
            // same name gets the value again.
            let registered = Set(tree.listAll())
            state.applied = state.applied.filter { registered.contains($0.key) }
            var merged: [String: String] = [:]
            for fsname in state.parameters.keys.sorted() {
                merged.merge(state.parameters[fsname]!) { first, _ in first }
            }
            var set: [String] = []
            for (pattern, value) in merged.sorted(by: { $0.key < $1.key }) {
                for match in tree.list(pattern) where state.applied[match.name] != value {
                    state.applied[match.name] = value
                    guard match.isWritable else {
                        CWARN("set_param -P \(pattern)=\(value): \(match.name) is read-only here")
                        continue
                    }
                    do throws(LustreError) {
                        try tree.set(match.name, value: value)
                        set.append(match.name)
                        CDEBUG(.config, "set_param -P: \(match.name)=\(value)")
                    } catch {
                        CWARN("set_param -P \(pattern)=\(value): \(error.context) (\(error.strerror)); kept the local value")
                    }
                }
            }
            return set
        }
    }
}
