import LibCFS
import XCTest

@testable import LLite

#if canImport(Glibc)
import Glibc
#endif

/// `jobid_var` and `jobid_name` as Lustre's `lustre_get_jobid` reads them, and the pid table
/// mount.lustre derives job ids with from /proc.
final class JobIDTests: XCTestCase {
    private let dd = JobIDPolicy.Process(pid: 4242, uid: 1000, gid: 100, name: "dd", environmentJobID: "1234.batch")
    private let ddWithoutJob = JobIDPolicy.Process(pid: 4242, uid: 1000, gid: 100, name: "dd", environmentJobID: nil)

    private var hostname: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        _ = buffer.withUnsafeMutableBytes { gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    func testJobIDVarAcceptsLustresValuesAndVariableNames() throws {
        XCTAssertEqual(try JobIDPolicy.Source(parsing: "disable"), .disable)
        XCTAssertEqual(try JobIDPolicy.Source(parsing: "procname_uid\n"), .procnameUID)
        XCTAssertEqual(try JobIDPolicy.Source(parsing: "nodelocal"), .nodelocal)
        XCTAssertEqual(try JobIDPolicy.Source(parsing: "SLURM_JOB_ID"), .environment("SLURM_JOB_ID"))
        for bad in ["", "A_VARIABLE_NAME_OF_21C", "A=B", "TWO WORDS", "session"] {
            XCTAssertThrowsError(try JobIDPolicy.Source(parsing: bad), bad) { error in
                XCTAssertEqual((error as? LustreError)?.errno, EINVAL, bad)
            }
        }
    }

    func testDisableGivesNoJobAndProcnameUIDGivesNameDotUID() {
        XCTAssertEqual(JobIDPolicy(source: .disable).jobID(for: dd), "")
        XCTAssertEqual(JobIDPolicy(source: .procnameUID, nameFormat: "%h").jobID(for: dd), "dd.1000")
    }

    func testEnvironmentVariableWinsElseJobIDNameIsExpanded() {
        let policy = JobIDPolicy(source: .environment("SLURM_JOB_ID"))
        XCTAssertEqual(policy.jobID(for: dd), "1234.batch")
        XCTAssertEqual(policy.jobID(for: ddWithoutJob), "dd.1000", "falls back to jobid_name (%e.%u)")
        XCTAssertNoThrow(try policy.setNameFormat("%j@%e"))
        XCTAssertEqual(policy.jobID(for: dd), "1234.batch@dd", "with %j in jobid_name the name is used")
    }

    func testJobIDNameFieldsAsJobidInterpretString() {
        let policy = JobIDPolicy(source: .nodelocal)
        XCTAssertEqual(policy.expand("%e.%u", dd), "dd.1000")
        XCTAssertEqual(policy.expand("%e-%g-%p", dd), "dd-100-4242")
        XCTAssertEqual(policy.expand("%h", dd), hostname)
        XCTAssertEqual(policy.expand("%H", dd), String(hostname.prefix { $0 != "." }))
        XCTAssertEqual(policy.expand("job %j", dd), "job1234.batch", "whitespace is dropped")
        XCTAssertEqual(policy.expand("a%zb%", dd), "ab", "unknown fields and a trailing % are dropped")
        XCTAssertEqual(policy.expand("%e%e%e%e%e%e%e%e%e%e%e%e%e%e%e%e%e", dd).utf8.count, 31, "cut to 31 bytes")
        XCTAssertNoThrow(try policy.setNameFormat("node%u"))
        XCTAssertEqual(policy.jobID(for: dd), "node1000")
        XCTAssertThrowsError(try policy.setNameFormat(String(repeating: "x", count: 32)))
        XCTAssertEqual(policy.nameFormat, "node%u", "a rejected format keeps the old one")
    }

    func testEnvironmentParsingOfThisProcessesProcEnviron() throws {
        let environ = try XCTUnwrap(JobIDProcessTable.readFile("/proc/self/environ"))
        let path = String(cString: try XCTUnwrap(getenv("PATH")))
        XCTAssertEqual(JobIDProcessTable.environmentValue(named: "PATH", in: environ), path)
        XCTAssertNil(JobIDProcessTable.environmentValue(named: "PAT", in: environ), "a prefix of a name is not the name")
        XCTAssertNil(JobIDProcessTable.environmentValue(named: "NO_SUCH_VARIABLE_HERE", in: environ))
        let block = Array("A=1\u{0}JOB=job42\u{0}JOBX=no\u{0}EMPTY=\u{0}".utf8)
        XCTAssertEqual(JobIDProcessTable.environmentValue(named: "JOB", in: block), "job42")
        XCTAssertEqual(JobIDProcessTable.environmentValue(named: "EMPTY", in: block), "")
    }

    func testProcessTableReadsProcOnceAndFollowsTheSettings() throws {
        let policy = JobIDPolicy(source: .environment("PATH"))
        let table = JobIDProcessTable(policy: policy, revalidateAfter: 3600)
        let pid = getpid()
        let environ = try XCTUnwrap(JobIDProcessTable.readFile("/proc/self/environ"))
        let path = try XCTUnwrap(JobIDProcessTable.environmentValue(named: "PATH", in: environ))
        XCTAssertEqual(table.jobID(pid: pid, uid: 7, gid: 8), String(path.utf8.prefix(31))!)
        XCTAssertEqual(table.count, 1)
        let comm = try XCTUnwrap(JobIDProcessTable.name(pid: pid))
        policy.source = .procnameUID
        XCTAssertEqual(table.jobID(pid: pid, uid: 7, gid: 8), PtlRPCJobIDCut("\(comm).7"), "a new jobid_var applies at once")
        XCTAssertEqual(table.jobID(pid: pid, uid: 9, gid: 8), PtlRPCJobIDCut("\(comm).9"))
        XCTAssertEqual(table.count, 1, "one entry per pid")
        XCTAssertNotNil(JobIDProcessTable.startTime(pid: pid))
        // No process to look at: no job, unless the node's.
        policy.source = .environment("PATH")
        XCTAssertEqual(table.jobID(pid: 0x3fff_fff0, uid: 5, gid: 5), "")
        XCTAssertEqual(table.jobID(pid: 0, uid: 5, gid: 5), "")
        policy.source = .nodelocal
        XCTAssertEqual(table.jobID(pid: 0, uid: 5, gid: 5), ".5", "nodelocal: jobid_name (%e.%u) with no process name")
        policy.source = .disable
        XCTAssertEqual(table.jobID(pid: pid, uid: 7, gid: 8), "")
    }

    private func PtlRPCJobIDCut(_ text: String) -> String { String(text.utf8.prefix(31))! }
}
