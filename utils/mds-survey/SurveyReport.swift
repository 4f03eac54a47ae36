import LibCFS

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// What one timed phase did: operations done, failed, and how long it took.
struct PhaseResult: Sendable {
    var operation: SurveyOperation
    var done = 0
    var errors = 0
    var firstError: String?
    var seconds = 0.0

    /// Operations per second, counting only the ones that succeeded.
    var rate: Double { seconds > 0 ? Double(done) / seconds : 0 }
}

/// Prints a survey's phases: one human line each, then Lustre-style `RESULT` lines that the
/// bench scripts read (`RESULT mds-survey <label>_<op> <rate> ops/s`).
enum SurveyReport {
    static func printPhase(_ result: PhaseResult) {
        var line = "\(result.operation.rawValue.padding(8)) \(NumberText.fixed(result.rate, 1).leftPadding(12)) ops/s"
            + "  (\(result.done) in \(NumberText.fixed(result.seconds, 3)) s)"
        if result.errors > 0 {
            line += ", \(result.errors) errors (first: \(result.firstError ?? "?"))"
        }
        print(line)
        fflush(stdout)
    }

    static func printResults(_ results: [PhaseResult], label: String) {
        for result in results {
            print("RESULT mds-survey \(label)_\(result.operation.rawValue) \(NumberText.fixed(result.rate, 1)) ops/s")
        }
        fflush(stdout)
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate func leftPadding(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}
