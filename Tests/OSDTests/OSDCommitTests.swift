import Foundation
import Glibc
import LibCFS
import NIOCore
import ObdClass
import Synchronization
import Testing
@testable import OSD

/// Transaction numbers and commits.
@Suite("OSD transactions")
struct OSDCommitTests {
    /// Collects the values a commit callback receives.
    final class Commits: Sendable {
        let values = Mutex<[UInt64]>([])
        func record(_ value: UInt64) { values.withLock { $0.append(value) } }
        var all: [UInt64] { values.withLock { $0 } }
    }

    @Test("every change gets a larger transno")
    func transnosIncrease() async throws {
        try await withOSD { osd, _ in
            var seen = [UInt64]()
            seen.append(try await osd.create(object1, attributes: ObdAttributes()))
            seen.append(try await osd.write(object1, pieces: [(offset: 0, data: ByteBuffer(bytes: pattern(100)))]))
            seen.append(try await osd.setattr(object1, ObdAttributes()))
            seen.append(try await osd.punch(object1, start: 0, end: .max))
            seen.append(try await osd.destroy(object1))
            #expect(seen == seen.sorted() && Set(seen).count == seen.count)
            #expect(seen[0] > 0)
        }
    }

    @Test("transnos keep growing across a reopen")
    func transnosGrowAcrossReopen() async throws {
        let scratch = try ScratchDirectory()
        let before = try await withOSD(in: scratch) { osd, _ in
            _ = try await osd.create(object1, attributes: ObdAttributes())
            return try await osd.setattr(object1, ObdAttributes())
        }
        try await withOSD(in: scratch) { osd, _ in
            #expect(osd.lastCommitted == before)
            let after = try await osd.setattr(object1, ObdAttributes())
            #expect(after > before)
        }
    }

    @Test("sync() commits and calls back with increasing lastCommitted")
    func syncFiresCallbacks() async throws {
        var options = OSDDevice.Options()
        options.commitInterval = 0  // only explicit commits
        try await withOSD(options) { osd, _ in
            let commits = Commits()
            osd.addCommitCallback { commits.record($0) }
            let first = try await osd.create(object1, attributes: ObdAttributes())
            #expect(osd.lastCommitted < first)
            #expect(try await osd.sync() >= first)
            let second = try await osd.write(object1, pieces: [(offset: 0, data: ByteBuffer(bytes: pattern(10)))])
            #expect(try await osd.sync() >= second)
            #expect(osd.lastCommitted == second)
            #expect(commits.all == [first, second])
        }
    }

    @Test("concurrent sync() callers all see their work committed")
    func concurrentSyncs() async throws {
        var options = OSDDevice.Options()
        options.commitInterval = 0
        try await withOSD(options) { osd, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 1...16 {
                    group.addTask {
                        let id = OSTObjectID(sequence: 0, objectID: UInt64(i))
                        let transno = try await osd.create(id, attributes: ObdAttributes())
                        let committed = try await osd.sync()
                        #expect(committed >= transno)
                    }
                }
                try await group.waitForAll()
            }
            #expect(osd.lastCommitted == osd.lastTransno)
        }
    }

    @Test("the background committer commits within its interval")
    func backgroundCommit() async throws {
        var options = OSDDevice.Options()
        options.commitInterval = 0.05
        try await withOSD(options) { osd, _ in
            let commits = Commits()
            osd.addCommitCallback { commits.record($0) }
            let first = try await osd.create(object1, attributes: ObdAttributes())
            let deadline = ContinuousClock.now + .seconds(5)
            while osd.lastCommitted < first && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(osd.lastCommitted >= first)
            let second = try await osd.create(object2, attributes: ObdAttributes())
            while osd.lastCommitted < second && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(osd.lastCommitted >= second)
            let values = commits.all
            #expect(values == values.sorted() && values.last == second)
        }
    }

    @Test("a closed device refuses calls with ESHUTDOWN")
    func closedDeviceRefuses() async throws {
        let scratch = try ScratchDirectory()
        let osd = try await OSDDevice.open(root: scratch.path)
        await osd.close()
        await expectErrno(ESHUTDOWN) { _ = try await osd.create(object1, attributes: ObdAttributes()) }
        await expectErrno(ESHUTDOWN) { _ = try await osd.sync() }
        await osd.close()  // idempotent
    }

    @Test("opening a missing root fails with ENOENT")
    func missingRoot() async throws {
        await expectErrno(ENOENT) { _ = try await OSDDevice.open(root: "/tmp/osd-test-does-not-exist-\(getpid())") }
    }
}
