/// Picks the storm's next operation from the model so that, if the MDS is consistent, it
/// succeeds: names come from a small pool per directory so the tree stays small and names are
/// reused (create after unlink, rename over an existing file), and the tree grows towards
/// `targetSize` entries then hovers there.
struct StormPlanner: Sendable {
    /// Names per directory.
    static let names = (0..<6).map { "n\($0)" }
    /// Deepest path (components); directories are made only above it.
    static let maxDepth = 3

    var random: StormRandom
    let targetSize: Int

    private enum Choice { case create, mkdir, symlink, link, rename, unlink, rmdir }

    private static let growingWeights: [(Int, Choice)] =
        [(30, .create), (12, .mkdir), (8, .symlink), (8, .link), (16, .rename), (16, .unlink), (10, .rmdir)]
    private static let steadyWeights: [(Int, Choice)] =
        [(15, .create), (9, .mkdir), (6, .symlink), (6, .link), (18, .rename), (30, .unlink), (16, .rmdir)]

    mutating func next(_ tree: StormTree, sequence: UInt64) -> StormOperation {
        let weights = tree.count < targetSize ? Self.growingWeights : Self.steadyWeights
        let total = weights.reduce(0) { $0 + $1.0 }
        while true {
            var roll = Int.random(in: 0..<total, using: &random)
            var choice = Choice.create
            for (weight, candidate) in weights {
                if roll < weight {
                    choice = candidate
                    break
                }
                roll -= weight
            }
            let pick: StormOperation?
            switch choice {
            case .create: pick = create(tree)
            case .mkdir: pick = mkdir(tree)
            case .symlink: pick = symlink(tree, sequence: sequence)
            case .link: pick = link(tree)
            case .rename: pick = rename(tree)
            case .unlink: pick = unlink(tree)
            case .rmdir: pick = rmdir(tree)
            }
            if let pick { return pick }
        }
    }

    private var dirs: (StormTree) -> [String] {
        { tree in [""] + tree.presentPaths.filter { tree.node($0)?.isDirectory == true } }
    }

    private mutating func freePath(_ tree: StormTree, maxParentDepth: Int) -> String? {
        let parents = dirs(tree).filter { StormTree.depth($0) <= maxParentDepth }
        guard let parent = parents.randomElement(using: &random) else { return nil }
        let free = Self.names.map { StormTree.join(parent, $0) }.filter { tree.node($0) == nil }
        return free.randomElement(using: &random)
    }

    private mutating func create(_ tree: StormTree) -> StormOperation? {
        guard let path = freePath(tree, maxParentDepth: Self.maxDepth - 1) else { return nil }
        // Mostly the default layout, sometimes both OSTs, so destroys touch several objects.
        let stripes: UInt16 = Int.random(in: 0..<4, using: &random) == 0 ? 2 : 0
        return .create(path: path, stripeCount: stripes)
    }

    private mutating func mkdir(_ tree: StormTree) -> StormOperation? {
        guard let path = freePath(tree, maxParentDepth: Self.maxDepth - 2) else { return nil }
        return .mkdir(path: path)
    }

    private mutating func symlink(_ tree: StormTree, sequence: UInt64) -> StormOperation? {
        guard let path = freePath(tree, maxParentDepth: Self.maxDepth - 1) else { return nil }
        return .symlink(path: path, target: "target-\(sequence)")
    }

    private mutating func link(_ tree: StormTree) -> StormOperation? {
        let files = tree.presentPaths.filter { tree.node($0)?.kind == .file }
        guard let source = files.randomElement(using: &random),
              let path = freePath(tree, maxParentDepth: Self.maxDepth - 1) else { return nil }
        return .link(source: source, path: path)
    }

    private mutating func rename(_ tree: StormTree) -> StormOperation? {
        guard let from = tree.presentPaths.randomElement(using: &random), let node = tree.node(from) else { return nil }
        if node.isDirectory {
            // Not into itself, and never deeper, so the tree stays within maxDepth.
            let parents = dirs(tree).filter {
                !StormTree.isWithin($0, from) && StormTree.depth($0) < StormTree.depth(from)
            }
            guard let parent = parents.randomElement(using: &random) else { return nil }
            let free = Self.names.map { StormTree.join(parent, $0) }.filter { tree.node($0) == nil }
            guard let to = free.randomElement(using: &random) else { return nil }
            return .rename(from: from, to: to)
        }
        // A file or symlink: to a free name, or over another file or symlink. Never over another
        // link to the same inode: POSIX makes that rename do nothing, and a client's VFS answers
        // it without asking the MDS.
        guard let parent = dirs(tree).filter({ StormTree.depth($0) < Self.maxDepth }).randomElement(using: &random) else {
            return nil
        }
        let targets = Self.names.map { StormTree.join(parent, $0) }.filter {
            $0 != from && tree.node($0)?.isDirectory != true && tree.node($0)?.fid != node.fid
        }
        guard let to = targets.randomElement(using: &random) else { return nil }
        return .rename(from: from, to: to)
    }

    private mutating func unlink(_ tree: StormTree) -> StormOperation? {
        let victims = tree.presentPaths.filter { tree.node($0)?.isDirectory == false }
        guard let path = victims.randomElement(using: &random) else { return nil }
        return .unlink(path: path)
    }

    private mutating func rmdir(_ tree: StormTree) -> StormOperation? {
        let empty = tree.presentPaths.filter { tree.node($0)?.isDirectory == true && tree.children(of: $0).isEmpty }
        guard let path = empty.randomElement(using: &random) else { return nil }
        return .rmdir(path: path)
    }
}
