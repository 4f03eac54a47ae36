import ArgumentParser
import LustreAdmin

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl get_param [-n] [-N] PATTERN...`: parameters of every daemon on this node.
struct GetParam: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get_param",
        abstract: "Print parameters matching glob patterns (osc.*.stats, obdfilter.*.stats, debug).")

    @Flag(name: .customShort("n"), help: "Print the values only, not the names.") var valuesOnly = false
    @Flag(name: .customShort("N"), help: "Print the names only, not the values.") var namesOnly = false
    @Argument(help: "Parameter names or glob patterns, e.g. 'osc.*.max_rpcs_in_flight'.") var patterns: [String]

    func validate() throws {
        guard !patterns.isEmpty else { throw ValidationError("give at least one parameter pattern") }
    }

    func run() async throws {
        let session = AdminSession(command: "get_param")
        var failed = false
        for pattern in patterns {
            guard let pairs = try session.pairs(of: "get_param", pattern, failed: &failed) else { continue }
            var seen: [(name: String, value: String)] = []
            for pair in pairs where !seen.contains(where: { $0.name == pair.name && $0.value == pair.value }) {
                // libcfs's own parameters (debug, fail_loc) exist in every daemon: one line
                // when they agree.
                seen.append(pair)
            }
            for (name, value) in seen.sorted(by: { $0.name < $1.name }) {
                print(Self.format(name: name, value: value, valuesOnly: valuesOnly, namesOnly: namesOnly))
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Lustre's layout: `name=value`, or `name=` and the value on the following lines when it
    /// spans several (stats files).
    static func format(name: String, value: String, valuesOnly: Bool, namesOnly: Bool) -> String {
        var text = value
        while text.hasSuffix("\n") { text.removeLast() }
        if namesOnly { return name }
        if valuesOnly { return text }
        return text.contains("\n") ? "\(name)=\n\(text)" : "\(name)=\(text)"
    }
}

/// `lctl list_param [-F] PATTERN...`: parameter names of every daemon on this node.
struct ListParam: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_param",
        abstract: "List parameter names matching glob patterns.")

    @Flag(name: .customShort("F"), help: "Mark writable parameters with '='.") var classify = false
    @Argument(help: "Glob patterns, e.g. 'osc.*' or '*.*.*'.") var patterns: [String]

    func validate() throws {
        guard !patterns.isEmpty else { throw ValidationError("give at least one parameter pattern") }
    }

    func run() async throws {
        let session = AdminSession(command: "list_param")
        var failed = false
        for pattern in patterns {
            guard let pairs = try session.pairs(of: "list_param", pattern, failed: &failed) else { continue }
            var names: [String: Bool] = [:]
            for pair in pairs { names[pair.name, default: false] = names[pair.name, default: false] || pair.value == "1" }
            for name in names.keys.sorted() { print(classify && names[name] == true ? name + "=" : name) }
        }
        if failed { throw ExitCode(1) }
    }
}

extension AdminSession {
    /// Asks every daemon for `command pattern` and returns the name/value pairs of all answers;
    /// nil (with the error reported and `failed` set) when no daemon has a match. A daemon's
    /// error is reported and sets `failed`, the others' answers still count.
    func pairs(of command: String, _ pattern: String, failed: inout Bool) throws -> [(name: String, value: String)]? {
        var pairs: [(name: String, value: String)] = []
        var notFound: AdminMessage?
        for answer in try askAll(.request(command, [pattern])) {
            let reply = answer.reply
            if reply.status == ENOENT { notFound = reply; continue }
            guard reply.status == 0 else {
                report(reply, what: answer.daemon)
                failed = true
                continue
            }
            for i in stride(from: 0, to: reply.fields.count - 1, by: 2) {
                pairs.append((name: reply.fields[i], value: reply.fields[i + 1]))
            }
        }
        guard pairs.isEmpty else { return pairs }
        if let notFound { report(notFound) }
        failed = true
        return nil
    }
}
