import ArgumentParser
import LustreAdmin

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl dk [FILE]` (debug_kernel): dumps and clears the debug rings of every daemon on this
/// node, merged in time order.
struct DebugKernel: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dk",
        abstract: "Dump the daemons' debug logs (the 'debug' mask chooses what is kept) and clear them.",
        aliases: ["debug_kernel"])

    @Argument(help: "Write the log to this file instead of standard output.") var file: String?

    func run() async throws {
        let session = AdminSession(command: "dk")
        var lines: [(key: (Int, Int), line: String)] = []
        var failed = false
        for answer in try session.askAll(.request("dk", ["1"])) {
            guard answer.reply.status == 0 else {
                session.report(answer.reply, what: answer.daemon)
                failed = true
                continue
            }
            lines += answer.reply.fields.map { (Self.timestamp(of: $0), $0) }
        }
        // Stable: each daemon's lines are already in order; equal times keep it.
        let merged = lines.enumerated().sorted {
            $0.element.key != $1.element.key ? $0.element.key < $1.element.key : $0.offset < $1.offset
        }.map(\.element.line)
        if let file {
            let text = merged.map { $0 + "\n" }.joined()
            guard let stream = fopen(file, "w") else {
                fputs("error: dk: open \(file): \(String(cString: strerror(errno)))\n", stderr)
                throw ExitCode(1)
            }
            let written = fwrite(text, 1, text.utf8.count, stream)
            let closed = fclose(stream)
            guard written == text.utf8.count, closed == 0 else {
                fputs("error: dk: write \(file): \(String(cString: strerror(errno)))\n", stderr)
                throw ExitCode(1)
            }
            print("Debug log: \(merged.count) lines, \(merged.count) kept, 0 dropped, 0 bad.")
        } else {
            for line in merged { print(line) }
        }
        if failed { throw ExitCode(1) }
    }

    /// `secs.usecs`, the fourth field of `subsys:mask:cpu:secs.usecs:…`; lines without one sort first.
    static func timestamp(of line: String) -> (Int, Int) {
        let fields = line.split(separator: ":", maxSplits: 4, omittingEmptySubsequences: false)
        guard fields.count > 4 else { return (0, 0) }
        let parts = fields[3].split(separator: ".")
        guard parts.count == 2, let secs = Int(parts[0]), let usecs = Int(parts[1]) else { return (0, 0) }
        return (secs, usecs)
    }
}

/// `lctl clear`: empties the daemons' debug rings.
struct Clear: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Clear the daemons' debug logs.")

    func run() async throws {
        let session = AdminSession(command: "clear")
        var failed = false
        for answer in try session.askAll(.request("clear")) where answer.reply.status != 0 {
            session.report(answer.reply, what: answer.daemon)
            failed = true
        }
        if failed { throw ExitCode(1) }
    }
}
