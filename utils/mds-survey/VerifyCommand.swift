import ArgumentParser
import LibCFS
import MDC
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `mds-survey verify`: after a storm, compares the namespace on the MDS with the final tree the
/// storm journaled (every entry of it committed): each path must be there with the same kind,
/// FID and symlink target, and nothing else may be.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the namespace against a storm's journal.")

    @OptionGroup var connection: MDSConnectionOptions
    @Option(help: "The storm's journal.") var journal: String

    func run() async throws {
        LustreDebug.applyEnvironment()
        let contents: StormJournalContents
        do {
            contents = try StormJournalContents(path: journal)
        } catch {
            fputs("mds-survey verify: \(error)\n", stderr)
            throw ExitCode(1)
        }
        guard let end = contents.end, end["final"] == "yes", let dir = contents.header["dir"],
              let threads = contents.header["threads"].flatMap({ Int($0) }) else {
            fputs("mds-survey verify: \(journal) has no final tree (the storm did not finish cleanly)\n", stderr)
            throw ExitCode(1)
        }
        print("verify: journal \(journal): \(contents.committedOperations) committed operations, "
              + "restarts \(end["restarts"] ?? "?"), lost \(end["lost"] ?? "?"), unexplained \(end["unexplained"] ?? "?")")
        let session: MDSSession
        do {
            session = try await MDSSession.connect(connection)
        } catch {
            fputs("mds-survey verify: \(error)\n", stderr)
            throw ExitCode(1)
        }
        var missing = 0, unexpected = 0, different = 0, matched = 0
        do {
            let top = try await session.mdc.lookup(parent: session.root, name: dir, credentials: .root).0.fid
            for thread in 0..<threads {
                let fid = try await session.mdc.lookup(parent: top, name: "t\(thread)", credentials: .root).0.fid
                let found = try await StormNamespaceWalk.walk(session.mdc, root: fid)
                let expected = contents.final[thread] ?? [:]
                for path in Set(found.keys).union(expected.keys).sorted() {
                    switch (expected[path], found[path]) {
                    case (let want?, let have?) where want == have:
                        matched += 1
                    case (let want?, let have?):
                        different += 1
                        print("verify: t\(thread)/\(path): journaled \(want), found \(have)")
                    case (let want?, nil):
                        missing += 1
                        print("verify: t\(thread)/\(path): journaled \(want), missing")
                    case (nil, let have?):
                        unexpected += 1
                        print("verify: t\(thread)/\(path): not journaled, found \(have)")
                    case (nil, nil):
                        break
                    }
                }
            }
        } catch {
            fputs("mds-survey verify: \(error)\n", stderr)
            await session.close()
            throw ExitCode(1)
        }
        await session.close()
        print("verify: \(matched) entries as journaled, \(missing) missing, \(unexpected) unexpected, \(different) different")
        if missing + unexpected + different > 0 || !contents.lost.isEmpty { throw ExitCode(1) }
        print("verify: OK")
    }
}
