import LibCFS
import ObdClass
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The FUSE node ids the kernel holds, each bound to a FID, with the kernel's lookup count.
///
/// Every entry reply (lookup, create, mkdir, …) adds one reference to the node it names and
/// `forget` takes them back; a node whose count drops to zero is gone, and its id is never reused
/// for another FID while the kernel may still name it. The root is node 1 and is never forgotten.
final class NodeTable: Sendable {
    static let rootNode: UInt64 = 1

    /// What the kernel was last told of a node's size and mtime.
    private struct Told: Equatable {
        var size: UInt64
        var blocks: UInt64
        var mtime: MDTTime
    }

    private struct State {
        var fidOf: [UInt64: LustreFID] = [:]
        var nodeOf: [LustreFID: (node: UInt64, lookups: UInt64)] = [:]
        var told: [UInt64: Told] = [:]
        /// The directory each directory node was last found in (its "..").
        var parentOf: [UInt64: LustreFID] = [:]
        var next: UInt64 = 2
    }

    private let state: Mutex<State>

    init(root: LustreFID) {
        var state = State()
        state.fidOf[Self.rootNode] = root
        state.nodeOf[root] = (Self.rootNode, 1)
        state.parentOf[Self.rootNode] = root
        self.state = Mutex(state)
    }

    /// The FID of `node`; `ESTALE` if the kernel names a node it has forgotten.
    func fid(of node: UInt64) throws(LustreError) -> LustreFID {
        guard let fid = state.withLock({ $0.fidOf[node] }) else {
            throw LustreError(errno: ESTALE, "unknown node \(node)")
        }
        return fid
    }

    /// The node for `fid`, counting one more kernel reference (call right before an entry reply).
    func remember(_ fid: LustreFID) -> UInt64 {
        state.withLock { state in
            if let known = state.nodeOf[fid] {
                state.nodeOf[fid] = (known.node, known.lookups + 1)
                return known.node
            }
            let node = state.next
            state.next += 1
            state.fidOf[node] = fid
            state.nodeOf[fid] = (node, 1)
            return node
        }
    }

    /// The kernel drops `lookups` references to `node`.
    func forget(_ node: UInt64, lookups: UInt64) {
        guard node != Self.rootNode else { return }
        state.withLock { state in
            guard let fid = state.fidOf[node], let known = state.nodeOf[fid] else { return }
            if known.lookups <= lookups {
                state.fidOf[node] = nil
                state.nodeOf[fid] = nil
                state.told[node] = nil
                state.parentOf[node] = nil
            } else {
                state.nodeOf[fid] = (known.node, known.lookups - lookups)
            }
        }
    }

    /// Directory `node` was found (looked up, made, renamed) in `parent`.
    func noteParent(_ node: UInt64, _ parent: LustreFID) {
        guard node != Self.rootNode else { return }
        state.withLock { state in
            if state.fidOf[node] != nil { state.parentOf[node] = parent }
        }
    }

    /// The directory `node` was last found in (the root's is the root), if known.
    func parent(of node: UInt64) -> LustreFID? { state.withLock { $0.parentOf[node] } }

    /// The kernel is told `size`, `blocks` and `mtime` of `node` (an entry or attribute reply).
    func told(_ node: UInt64, size: UInt64, blocks: UInt64, mtime: MDTTime) {
        state.withLock { state in
            guard state.fidOf[node] != nil else { return }
            state.told[node] = Told(size: size, blocks: blocks, mtime: mtime)
        }
    }

    /// Whether the kernel was last told `size` of `node`, and `blocks` and `mtime` when given
    /// (false when not known). An open whose fresh attributes differ makes the kernel drop its
    /// copy (close-to-open: another client may have written since, and the kernel reads no
    /// further than the size it holds); so does a close that told the MDS otherwise.
    func wasTold(_ node: UInt64, size: UInt64, blocks: UInt64? = nil, mtime: MDTTime?) -> Bool {
        state.withLock { state in
            guard let told = state.told[node] else { return false }
            return told.size == size && (blocks.map { $0 == told.blocks } ?? true)
                && (mtime.map { $0 == told.mtime } ?? true)
        }
    }

    /// The node already bound to `fid`, if the kernel holds one (no new reference).
    func node(of fid: LustreFID) -> UInt64? { state.withLock { $0.nodeOf[fid]?.node } }

    /// Nodes the kernel holds, the root included.
    var count: Int { state.withLock { $0.fidOf.count } }
}
