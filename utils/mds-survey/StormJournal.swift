import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The storm's journal: text lines appended and fsync'd before the storm goes on, so what it
/// says was committed is on disk even if the storm itself is killed.
///
///     START fsname=testfs dir=storm threads=4 seed=1
///     OP t2 57 create n1/n3 stripes=2          (committed, by thread and sequence)
///     COMMIT epoch=3 ops=41                    (a barrier: all acknowledged so far committed)
///     LOST t1/n2: committed as file [...] ...  (a committed change missing after a restart)
///     FINAL t0 n1/n4 symlink [0x...:0x..:0x0] target-88   (the tree at the end, all committed)
///     END operations=1234 restarts=5 committed=1200 lost=0 unexplained=0
final class StormJournal: Sendable {
    let path: String
    private let fd: Int32
    private let durable: Bool

    /// `durable` false: lines are written but not fsync'd (the `--trace` of every operation).
    init(path: String, durable: Bool = true) throws(LustreError) {
        self.path = path
        self.durable = durable
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LustreError.fromErrno("open journal \(path)") }
    }

    deinit { close(fd) }

    /// Appends the lines and makes them durable (on an OS thread: write and fsync block).
    func append(_ lines: [String]) async throws(LustreError) {
        guard !lines.isEmpty else { return }
        let text = lines.joined(separator: "\n") + "\n"
        let fd = self.fd
        let path = self.path
        let durable = self.durable
        let results = try await BlockingThreads.run(count: 1) { _ -> LustreError? in
            var bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    return LustreError.fromErrno("write journal \(path)")
                }
                offset += written
            }
            bytes.removeAll()
            return !durable || fsync(fd) == 0 ? nil : LustreError.fromErrno("fsync journal \(path)")
        }
        if let failure = results[0] { throw failure }
    }
}

/// A journal read back: its header, the final tree and the summary.
struct StormJournalContents: Sendable {
    var header: [String: String] = [:]
    var committedOperations = 0
    var final: [Int: [String: StormNode]] = [:]
    var lost: [String] = []
    var end: [String: String]?

    init(path: String) throws(LustreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LustreError.fromErrno("open journal \(path)") }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw LustreError.fromErrno("read journal \(path)")
            }
            if count == 0 { break }
            data += chunk[0..<count]
        }
        for (number, line) in String(decoding: data, as: UTF8.self).split(separator: "\n").enumerated() {
            let words = line.split(separator: " ").map(String.init)
            guard let keyword = words.first else { continue }
            func fields() -> [String: String] {
                var result: [String: String] = [:]
                for word in words.dropFirst() {
                    guard let equals = word.firstIndex(of: "=") else { continue }
                    result[String(word[..<equals])] = String(word[word.index(after: equals)...])
                }
                return result
            }
            switch keyword {
            case "START": header = fields()
            case "OP": committedOperations += 1
            case "LOST": lost.append(words.dropFirst().joined(separator: " "))
            case "END": end = fields()
            case "FINAL":
                guard words.count >= 5, words[1].hasPrefix("t"), let thread = Int(words[1].dropFirst()) else {
                    throw LustreError(errno: EINVAL, "\(path):\(number + 1): bad FINAL line")
                }
                let fid = try LustreFID(parsing: words[4])
                let kind: StormNode.Kind
                switch words[3] {
                case "file": kind = .file
                case "dir": kind = .directory
                case "symlink" where words.count >= 6: kind = .symlink(target: words[5])
                default: throw LustreError(errno: EINVAL, "\(path):\(number + 1): bad kind '\(words[3])'")
                }
                final[thread, default: [:]][words[2]] = StormNode(kind: kind, fid: fid)
            default:
                continue
            }
        }
    }
}
