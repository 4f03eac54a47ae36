import ObdClass

/// One namespace operation of the storm, on paths relative to the thread's directory.
enum StormOperation: Sendable, CustomStringConvertible {
    /// A regular file with `stripeCount` objects (0: the filesystem default).
    case create(path: String, stripeCount: UInt16)
    case mkdir(path: String)
    case symlink(path: String, target: String)
    case link(source: String, path: String)
    case rename(from: String, to: String)
    case unlink(path: String)
    case rmdir(path: String)
    /// Not sent: the model was replaced by what the server showed after a restart or an error.
    case resync

    /// The paths the operation changes (with what is below them, for directories).
    var paths: [String] {
        switch self {
        case .create(let path, _), .mkdir(let path), .symlink(let path, _), .link(_, let path),
             .unlink(let path), .rmdir(let path):
            [path]
        case .rename(let from, let to): [from, to]
        case .resync: []
        }
    }

    /// The journal's words: `create n1/n2 stripes=2`, `rename n1 n3`, ...
    var description: String {
        switch self {
        case .create(let path, let stripes): "create \(path) stripes=\(stripes)"
        case .mkdir(let path): "mkdir \(path)"
        case .symlink(let path, let target): "symlink \(path) \(target)"
        case .link(let source, let path): "link \(source) \(path)"
        case .rename(let from, let to): "rename \(from) \(to)"
        case .unlink(let path): "unlink \(path)"
        case .rmdir(let path): "rmdir \(path)"
        case .resync: "resync"
        }
    }
}
