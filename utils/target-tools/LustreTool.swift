// Shared by mkfs.lustre and tunefs.lustre (utils/tunefs.lustre holds a symlink to this file):
// how both end, and how both check the NIDs they are given.

import ArgumentParser
import Glibc
import LibCFS

/// A failure that ends a tool the way Lustre's do: `PROG FATAL: message` on stderr, and the
/// errno as exit status.
public struct ToolFailure: Error {
    public var status: Int32
    public var message: String

    public init(status: Int32, _ message: String) {
        self.status = status
        self.message = message
    }

    public init(_ error: LustreError) {
        self.init(status: error.errno, error.description)
    }
}

/// Exit statuses and NID checks common to the target tools.
public enum LustreTool {
    /// Exit status for bad command lines (as getopt-based tools use), not ArgumentParser's 64.
    public static let usageStatus: Int32 = 2

    /// Parses the command line and runs `Command`, then exits: 0 on success, 2 for a bad
    /// command line (with the message and usage), the errno for a failure.
    public static func main<Command: ParsableCommand>(_ type: Command.Type) -> Never {
        let name = Command.configuration.commandName ?? "lustre-tool"
        do {
            var command = try Command.parseAsRoot()
            try command.run()
            exit(0)
        } catch let failure as ToolFailure {
            printError("\n\(name) FATAL: \(failure.message)")
            exit(clamp(failure.status))
        } catch let error as LustreError {
            printError("\n\(name) FATAL: \(error)")
            exit(clamp(error.errno))
        } catch {
            let code = Command.exitCode(for: error)
            if code == .success {
                print(Command.fullMessage(for: error))
                exit(0)
            }
            printError("\(name): \(Command.fullMessage(for: error))")
            exit(code == .validationFailure ? usageStatus : code.rawValue)
        }
    }

    /// Writes a line to standard error, after flushing standard output so the two interleave
    /// in the order they were written when both go to a terminal or the same file.
    public static func printError(_ line: String) {
        fflush(nil)
        let bytes = Array((line + "\n").utf8)
        var done = 0
        while done < bytes.count {
            let wrote = bytes.withUnsafeBytes { Glibc.write(2, $0.baseAddress! + done, $0.count - done) }
            if wrote <= 0 {
                if wrote < 0 && errno == EINTR { continue }
                return
            }
            done += wrote
        }
    }

    /// Exit statuses are one byte; an errno of 0 must still read as failure.
    private static func clamp(_ status: Int32) -> Int32 {
        status > 0 && status < 256 ? status : 1
    }

    /// Checks an `--mgsnode`/`--servicenode` value: failover nodes separated by ':', NIDs of one
    /// node by ',', each NID `ADDR@NET` where NET is letters then an optional number (`tcp`,
    /// `tcp1`, `o2ib`, `lo`).  Returns a message for the first bad NID.
    public static func checkNIDList(_ text: String) -> String? {
        guard !text.isEmpty else { return "empty NID list" }
        for node in text.split(separator: ":", omittingEmptySubsequences: false) {
            for nid in node.split(separator: ",", omittingEmptySubsequences: false) {
                if let problem = checkNID(nid) { return "bad NID '\(nid)' in '\(text)': \(problem)" }
            }
        }
        return nil
    }

    private static func checkNID(_ nid: Substring) -> String? {
        let parts = nid.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "expected ADDR@NET, e.g. 192.168.0.1@tcp" }
        let (address, network) = (parts[0], parts[1])
        guard !address.isEmpty, address.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x3d }) else {
            return "empty or unprintable address"
        }
        let letters = network.prefix { $0.isASCII && $0.isLetter }
        let number = network.dropFirst(letters.count)
        guard !letters.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), number.count <= 5 else {
            return "network '\(network)' is not a name with an optional number (tcp, tcp1, o2ib)"
        }
        return nil
    }
}
