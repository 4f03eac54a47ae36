#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LibCFS
import ObdClass
import LustreTestSupport
import Testing
@testable import MDT

/// The storm `tests/test-mds-crash.sh` drives, without processes: random creates, hard links,
/// renames (over existing names too), unlinks and rmdirs among a few directories and names, then a
/// crash and a replay of the whole log over a tree that already holds every effect. Replay
/// must converge on exactly the namespace the operations left.
@Suite("MDT replay storm")
struct MDTReplayStormTests {
    /// Seeds run one after another (each MDT holds many descriptors); `MDT_STORM_SEEDS` runs more.
    @Test("replaying a random storm of links, renames, unlinks and rmdirs over its own effects loses nothing")
    func storms() async throws {
        let count = ProcessInfo.processInfo.environment["MDT_STORM_SEEDS"].flatMap { UInt64($0) } ?? 24
        for seed in 1...max(count, 1) { try await storm(seed: seed) }
    }

    private func storm(seed: UInt64) async throws {
        var random = SplitMix64(seed: seed)
        let scratch = MDTScratch()
        var mdt = try await scratch.open()
        let root = mdt.rootFID
        var directories = [root]
        for index in 0..<3 { directories.append(try await mdt.mkdir(root, "n\(index)").fid) }
        // A checkpoint part-way, as a live MDS takes them, so replay starts in the middle.
        let checkpointAt = Int.random(in: 0..<150, using: &random)
        for step in 0..<300 {
            if step == checkpointAt {
                await mdt.close()
                mdt = try await scratch.open()
            }
            let parent = directories.randomElement(using: &random)!
            let name = "n\(Int.random(in: 0..<5, using: &random))"
            let other = directories.randomElement(using: &random)!
            let otherName = "n\(Int.random(in: 0..<5, using: &random))"
            do {
                switch Int.random(in: 0..<11, using: &random) {
                case 0..<3:
                    try await mdt.mkfile(parent, name)
                case 3:
                    let made = try await mdt.mkdir(parent, name)
                    if directories.count < 8 { directories.append(made.fid) }
                case 4..<6:
                    let source = try await mdt.lookup(parent: parent, name: name, credentials: .root)
                    _ = try await mdt.link(source.fid, parent: other, name: otherName, credentials: .root)
                case 6..<8:
                    _ = try await mdt.rename(from: parent, name: name, to: other, newName: otherName, credentials: .root)
                case 8..<10:
                    _ = try await mdt.unlink(parent: parent, name: name, credentials: .root)
                default:
                    // Directories made before the checkpoint and removed after it are the ones
                    // replay never has: records naming them as parent must still converge.
                    let victim = try await mdt.lookup(parent: parent, name: name, credentials: .root)
                    _ = try await mdt.rmdir(parent: parent, name: name, credentials: .root)
                    directories.removeAll { $0 == victim.fid }
                }
            } catch {
                // ENOENT, EEXIST, EISDIR, ENOTEMPTY, EINVAL...: the storm asks blindly.
            }
        }
        let before = try await snapshot(mdt)
        _ = try await mdt.sync()
        mdt.simulateCrash()
        mdt = try await scratch.open()
        let after = try await snapshot(mdt)
        let lost = before.filter { after[$0.key] != $0.value }.keys.sorted()
        let extra = after.filter { before[$0.key] == nil }.keys.sorted()
        #expect(lost.isEmpty && extra.isEmpty, "seed \(seed): lost \(lost), extra \(extra)")
        await mdt.close()
        let report = try MDTChecker.check(root: scratch.path)
        #expect(report.problems.isEmpty, "seed \(seed): \(report.problems)")
    }
}
