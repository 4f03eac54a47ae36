import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// The survey proper: `mds-survey --mds NID ...` over RPC, or `mds-survey --local DIR ...` on a
/// local directory (the raw-filesystem baseline, same threads and files).
struct SurveyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Time create, lookup, getattr, setattr and destroy from several threads.",
        discussion: """
            Each thread works in a directory of its own (DIR/run-PID/thread-N) and does its operations \
            one after another, so --threads is the number of requests in flight. --files is per thread. \
            Files are created with --stripe-count objects each; 0 makes files with no layout and no \
            objects (a mknod of a regular file, as Lustre's mds-survey does with stripe_count=0). \
            Creates and destroys run even when not listed in --ops (untimed), so the other phases have \
            files to work on and nothing is left behind. With --local the same is done with \
            open(O_CREAT|O_EXCL)/close, fstatat, stat, fchmodat and unlinkat on a local directory.
            """)

    @OptionGroup var connection: MDSConnectionOptions
    @Option(help: "Survey this local directory (raw filesystem baseline) instead of an MDS.") var local: String?
    @Option(help: "Threads, each with its own directory.") var threads: Int = 4
    @Option(help: "Files per thread.") var files: Int = 1000
    @Option(help: "Objects per file: 0 (no objects) or 1...2000.") var stripeCount: Int = 1
    @Option(help: "The directory under the filesystem root (or under --local) to work in.") var dir: String = "mds-survey"
    @Option(help: "Operations to time, comma-separated: create,lookup,getattr,setattr,destroy.")
    var ops: String = SurveyOperation.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Label of the RESULT lines (default stripeN, or local).") var label: String?

    func validate() throws {
        guard (1...1024).contains(threads) else { throw ValidationError("--threads must be 1...1024") }
        guard (1...10_000_000).contains(files) else { throw ValidationError("--files must be 1...10000000") }
        guard (0...LustreLayout.maxStripeCount).contains(stripeCount) else {
            throw ValidationError("--stripe-count must be 0...\(LustreLayout.maxStripeCount)")
        }
        guard !dir.isEmpty, !dir.contains("/"), dir != ".", dir != ".." else {
            throw ValidationError("--dir must be one name, without '/'")
        }
        _ = try SurveyOperation.parseList(ops)
        if local == nil && connection.mds == nil { throw ValidationError("give --mds NID or --local DIR") }
        if local != nil && connection.mds != nil { throw ValidationError("--mds and --local exclude each other") }
    }

    func run() async throws {
        LustreDebug.applyEnvironment()
        let operations = try SurveyOperation.parseList(ops)
        let results: [PhaseResult]
        if let local {
            print("mds-survey: \(threads) threads x \(files) files on local \(local)")
            let survey = LocalSurvey(root: local, dir: dir, threads: threads, files: files, operations: operations)
            do {
                results = try await survey.run()
            } catch {
                fputs("mds-survey: \(error)\n", stderr)
                throw ExitCode(1)
            }
            SurveyReport.printResults(results, label: label ?? "local")
        } else {
            let session: MDSSession
            do {
                session = try await MDSSession.connect(connection)
            } catch {
                fputs("mds-survey: \(error)\n", stderr)
                throw ExitCode(1)
            }
            print("mds-survey: \(threads) threads x \(files) files, stripe count \(stripeCount), "
                  + "on \(connection.fsname)-MDT0000 at \(session.server)")
            let survey = RemoteSurvey(session: session, dir: dir, threads: threads, files: files,
                                      stripeCount: stripeCount, operations: operations)
            do {
                results = try await survey.run()
            } catch {
                fputs("mds-survey: \(error)\n", stderr)
                await session.close()
                throw ExitCode(1)
            }
            await session.close()
            SurveyReport.printResults(results, label: label ?? "stripe\(stripeCount)")
        }
        if results.contains(where: { $0.errors > 0 }) { throw ExitCode(1) }
    }
}
