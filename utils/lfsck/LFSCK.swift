import ArgumentParser
import LibCFS
import MDT
import ObdClass

#if canImport(Glibc)
import Glibc
#endif

/// `lfsck --mdt MDT_ROOT [--ost INDEX=OST_ROOT ...]`: checks a stopped filesystem's targets
/// offline (Lustre's LFSCK namespace and layout checks, run against the target roots). Prints one
/// problem per line; exit status 0 when clean, 1 with problems, 2 when the check itself failed.
@main
struct LFSCK: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lfsck",
        abstract: "Check an offline MDT target (and its OSTs' objects) for consistency.",
        discussion: """
            The MDT part checks that every entry under ROOT carries a FID whose object-index record \
            resolves back to it, that every OI record resolves to a live inode, that link xattrs and \
            link counts match the entries, and that no directory is unreachable. With --ost it also \
            checks that every object a layout names exists on its OST and that OSTs hold no orphan \
            objects. Targets must not be in use.
            """)

    @Option(name: .long, help: "The MDT target root directory.")
    var mdt: String

    @Option(name: .long, help: ArgumentHelp("An OST target root, as INDEX=PATH (repeatable).", valueName: "INDEX=PATH"))
    var ost: [String] = []

    @Flag(name: .shortAndLong, help: "Also print a summary of what was checked.")
    var verbose = false

    func validate() throws {
        for spec in ost { _ = try Self.parseOST(spec) }
    }

    static func parseOST(_ spec: String) throws -> (UInt32, String) {
        let parts = spec.split(separator: "=", maxSplits: 1)
        guard parts.count == 2, let index = UInt32(parts[0]), !parts[1].isEmpty else {
            throw ValidationError("--ost wants INDEX=PATH, got '\(spec)'")
        }
        return (index, String(parts[1]))
    }

    func run() throws {
        var ostRoots: [UInt32: String] = [:]
        for spec in ost {
            let (index, path) = try Self.parseOST(spec)
            ostRoots[index] = path
        }
        var problems: [String]
        do {
            let report = try MDTChecker.check(root: mdt)
            problems = report.problems
            if !ostRoots.isEmpty {
                problems += try LODObjectCheck.check(mdtRoot: mdt, ostRoots: ostRoots, layouts: report.layouts)
            }
            if verbose {
                let osts = ostRoots.isEmpty ? "no OSTs" : "\(ostRoots.count) OST(s)"
                StandardError.write("lfsck: \(report.inodes) inodes, \(report.files.count) files, \(osts) checked\n")
            }
        } catch {
            StandardError.write("lfsck: \(error)\n")
            throw ExitCode(2)
        }
        for problem in problems { print(problem) }
        if !problems.isEmpty { throw ExitCode(1) }
    }
}

/// Writes to standard error without Foundation.
enum StandardError {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
