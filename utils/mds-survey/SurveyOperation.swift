import ArgumentParser

/// The operations a survey times, in the order it runs them (as Lustre's mds-survey:
/// create, lookup, md_getattr, setxattr-like setattr, destroy).
enum SurveyOperation: String, CaseIterable, Sendable {
    case create, lookup, getattr, setattr, destroy

    /// Parses `create,lookup,...`; the order given does not matter, the survey's does.
    static func parseList(_ text: String) throws -> [SurveyOperation] {
        var chosen = Set<SurveyOperation>()
        for word in text.split(separator: ",") {
            let name = word.trimmingCharacters(in: " ")
            guard let operation = SurveyOperation(rawValue: name) else {
                throw ValidationError("unknown operation '\(name)' in --ops (choose from \(allCases.map(\.rawValue).joined(separator: ",")))")
            }
            chosen.insert(operation)
        }
        guard !chosen.isEmpty else { throw ValidationError("--ops names no operation") }
        return allCases.filter(chosen.contains)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        String(drop(while: { $0 == set }).reversed().drop(while: { $0 == set }).reversed())
    }
}
