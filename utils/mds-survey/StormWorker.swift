import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// One storm thread: random operations, one at a time, in a directory of its own, with a model
/// of what should be there. After an MDS restart (or any error, whose outcome is unknown) it
/// reads its subtree back, checks that everything whose last change was committed is there as
/// modelled (a difference is a LOST committed operation), and adopts what it found.
actor StormWorker {
    /// What the worker counted, for the summary and the exit status.
    struct Tally: Sendable {
        var operations = 0
        var errorsDuringRestarts = 0
        var resyncs = 0
        var verifiedAfterRestart = 0
        /// Entries whose last change was acknowledged but not yet known committed when the MDS
        /// restarted, found otherwise afterwards: replay did not restore them as acknowledged
        /// (reported, not a failure: only committed changes are promised).
        var notReplayed = 0
        var lost: [String] = []
        var unexplained: [String] = []
    }

    /// An acknowledged operation not yet known committed; `epoch` is the MDS instance (restart
    /// count) that both sent and answered it, nil if a restart came in between.
    private struct Pending {
        var sequence: UInt64
        var epoch: UInt64?
        var text: String
    }

    let index: Int
    let directory: LustreFID
    private let session: MDSSession
    private let trace: StormJournal?
    private var tree = StormTree()
    private var planner: StormPlanner
    private var nextSequence: UInt64 = 1
    private var committedSequence: UInt64 = 0
    private var epoch: UInt64
    private var needsResync = false
    private var lastOperationFailed = false
    private var pending: [Pending] = []
    private var descriptions: [UInt64: String] = [:]
    private(set) var tally = Tally()

    init(index: Int, directory: LustreFID, session: MDSSession, seed: UInt64, targetSize: Int, trace: StormJournal?) {
        self.index = index
        self.trace = trace
        self.directory = directory
        self.session = session
        self.planner = StormPlanner(random: StormRandom(seed: seed), targetSize: targetSize)
        self.epoch = session.restarts
    }

    /// Whether the model must be read back before the next operation.
    var mustResync: Bool { needsResync || session.restarts != epoch }

    /// Acknowledged operations not yet journaled as committed.
    var uncommitted: Int { pending.count }

    /// Runs operations until `stop` says so or `limit` operations are done.
    func run(gate: StormGate, stop: StormStopFlag, limit: Int?) async {
        while !stop.isSet, limit.map({ tally.operations < $0 }) ?? true {
            await gate.enter()
            if stop.isSet {
                gate.leave()
                break
            }
            if mustResync {
                _ = await resync(stop: stop)
            } else {
                await step()
            }
            gate.leave()
        }
    }

    // MARK: Operations

    private func step() async {
        let sequence = nextSequence
        nextSequence += 1
        let operation = planner.next(tree, sequence: sequence)
        descriptions[sequence] = "#\(sequence) \(operation)"
        let before = session.restarts
        do throws(LustreError) {
            try await perform(operation, sequence: sequence)
            let after = session.restarts
            tally.operations += 1
            pending.append(Pending(sequence: sequence, epoch: before == after ? before : nil, text: "\(operation)"))
            if trace != nil {
                let made = operation.paths.last.flatMap { tree.node($0) }.map { " -> \($0)" } ?? ""
                await traced("t\(index) \(sequence) epoch=\(before)-\(after) ok \(operation)\(made)")
            }
            if before != after { needsResync = true }
        } catch {
            let after = session.restarts
            needsResync = true
            lastOperationFailed = true
            // It may have been done (the reply lost to a restart) or not: until the resync that
            // follows, what it touched is unknown.
            for path in operation.paths { tree.touch(path, sequence: sequence) }
            await traced("t\(index) \(sequence) epoch=\(before)-\(after) error \(operation): \(error)")
            if before == after && Self.isNamespaceError(error.errno) {
                // With no restart in between the model and the MDS must agree on this.
                let text = "t\(index) #\(sequence) \(operation): \(error)"
                tally.unexplained.append(text)
                CERROR("storm: unexplained error: \(text)")
            } else {
                tally.errorsDuringRestarts += 1
            }
        }
    }

    private static func isNamespaceError(_ errno: Int32) -> Bool {
        [ENOENT, EEXIST, ENOTEMPTY, ENOTDIR, EISDIR, EINVAL, ESTALE].contains(errno)
    }

    private func fid(ofDirectory path: String) -> LustreFID {
        path.isEmpty ? directory : tree.node(path)!.fid
    }

    /// Sends `operation` and applies it to the model once acknowledged.
    private func perform(_ operation: StormOperation, sequence: UInt64) async throws(LustreError) {
        let mdc = session.mdc
        func parentAndName(_ path: String) -> (LustreFID, String) {
            (fid(ofDirectory: StormTree.parent(of: path)), StormTree.name(of: path))
        }
        switch operation {
        case .create(let path, let stripes):
            let (parent, name) = parentAndName(path)
            let layout = stripes == 0 ? nil : LustreLayout(stripeCount: stripes)
            let (attributes, _) = try await mdc.create(parent: parent, name: name, kind: .file, mode: 0o644,
                                                       credentials: .root, layout: layout, exclusive: true)
            tree.set(path, StormNode(kind: .file, fid: attributes.fid), sequence: sequence)
        case .mkdir(let path):
            let (parent, name) = parentAndName(path)
            let (attributes, _) = try await mdc.create(parent: parent, name: name, kind: .directory, mode: 0o755,
                                                       credentials: .root, layout: nil, exclusive: true)
            tree.set(path, StormNode(kind: .directory, fid: attributes.fid), sequence: sequence)
        case .symlink(let path, let target):
            let (parent, name) = parentAndName(path)
            let (attributes, _) = try await mdc.create(parent: parent, name: name, kind: .symlink(target: target),
                                                       mode: 0o777, credentials: .root, layout: nil, exclusive: true)
            tree.set(path, StormNode(kind: .symlink(target: target), fid: attributes.fid), sequence: sequence)
        case .link(let source, let path):
            let (parent, name) = parentAndName(path)
            let fid = tree.node(source)!.fid
            let attributes = try await mdc.link(fid, parent: parent, name: name, credentials: .root)
            guard attributes.fid == fid else {
                throw LustreError(errno: EINVAL, "link to \(fid) answered with \(attributes.fid)")
            }
            tree.set(path, StormNode(kind: .file, fid: fid), sequence: sequence)
        case .rename(let from, let to):
            let (fromParent, fromName) = parentAndName(from)
            let (toParent, toName) = parentAndName(to)
            try await mdc.rename(from: fromParent, name: fromName, to: toParent, newName: toName, credentials: .root)
            tree.move(from, to: to, sequence: sequence)
        case .unlink(let path):
            let (parent, name) = parentAndName(path)
            try await mdc.unlink(parent: parent, name: name, credentials: .root)
            tree.remove(path, sequence: sequence)
        case .rmdir(let path):
            let (parent, name) = parentAndName(path)
            try await mdc.rmdir(parent: parent, name: name, credentials: .root)
            tree.remove(path, sequence: sequence)
        case .resync:
            break
        }
    }

    // MARK: Checking and resynchronising

    /// Reads the subtree back (again, if a restart interrupts the walk), checks every path whose
    /// last change is committed, and adopts what the server has. False if it never could.
    @discardableResult
    func resync(stop: StormStopFlag?) async -> Bool {
        var failures = 0
        while true {
            let before = session.restarts
            let server: [String: StormNode]
            do {
                server = try await StormNamespaceWalk.walk(session.mdc, root: directory)
            } catch {
                failures += 1
                if failures >= 30 || (stop?.isSet == true && error.errno == ESHUTDOWN) {
                    CERROR("storm: t\(index): cannot read the tree back: \(error)")
                    return false
                }
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            guard session.restarts == before else { continue }
            let restarted = before != epoch
            // After a failed operation the model may lack what that operation did.
            let erred = lastOperationFailed
            for path in Set(tree.knownPaths).union(server.keys).sorted() {
                let sequence = tree.sequence(path)
                let expected = tree.node(path)
                let found = server[path]
                guard sequence <= committedSequence else {
                    if restarted && !erred && expected != found { tally.notReplayed += 1 }
                    continue
                }
                if restarted && expected != nil { tally.verifiedAfterRestart += 1 }
                if expected != found {
                    let cause = sequence == 0 ? "never created" : (descriptions[sequence] ?? "#\(sequence)")
                    let text = "t\(index)/\(path): committed as \(expected.map { "\($0)" } ?? "absent") (\(cause)), "
                        + "found \(found.map { "\($0)" } ?? "absent")"
                    tally.lost.append(text)
                    CERROR("storm: LOST \(text)")
                }
            }
            let sequence = nextSequence
            nextSequence += 1
            descriptions[sequence] = "#\(sequence) resync"
            await traced("t\(index) \(sequence) epoch=\(before) resync committed<=\(committedSequence) server: "
                         + server.keys.sorted().map { "\($0)=\(server[$0]!)" }.joined(separator: ", "))
            tree.reset(to: server, sequence: sequence)
            pending.append(Pending(sequence: sequence, epoch: before, text: "resync entries=\(server.count)"))
            epoch = before
            needsResync = false
            lastOperationFailed = false
            tally.resyncs += 1
            return true
        }
    }

    private func traced(_ line: String) async {
        guard let trace else { return }
        try? await trace.append([line])
    }

    // MARK: Commit

    /// Called by the barrier with every thread paused, once the MDS instance `epoch` has
    /// committed everything it acknowledged: returns the journal lines of what became committed.
    func commit(epoch committedEpoch: UInt64) -> [String] {
        let committed = pending.filter { $0.epoch == committedEpoch }
        if let highest = committed.map(\.sequence).max() { committedSequence = max(committedSequence, highest) }
        if trace != nil { CDEBUG(.info, "storm: t\(index) committed up to \(committedSequence) in epoch \(committedEpoch)") }
        // Operations answered by an earlier instance (or across a restart) are never known
        // committed: the resync that follows the restart supersedes them.
        pending.removeAll { $0.epoch == nil || $0.epoch! <= committedEpoch }
        return committed.map { "OP t\(index) \($0.sequence) \($0.text)" }
    }

    /// The model as `FINAL` journal lines, once everything is committed.
    func finalLines() -> [String] {
        tree.presentPaths.map { path in
            let node = tree.node(path)!
            switch node.kind {
            case .file: return "FINAL t\(index) \(path) file \(node.fid)"
            case .directory: return "FINAL t\(index) \(path) dir \(node.fid)"
            case .symlink(let target): return "FINAL t\(index) \(path) symlink \(node.fid) \(target)"
            }
        }
    }

    var entryCount: Int { tree.count }
}
