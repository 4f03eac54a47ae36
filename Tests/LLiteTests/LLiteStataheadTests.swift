import LibCFS
import ObdClass
import Synchronization
import XCTest

@testable import LLite

#if canImport(Glibc)
import Glibc
#endif

/// Statahead of names that count up, against a fake MDS that counts its lookups.
final class LLiteStataheadTests: XCTestCase {
    /// Names that exist (name -> object id) and the lookups asked of it, per name.
    final class FakeMDS: Sendable {
        let names = Mutex<[String: UInt32]>([:])
        let asked = Mutex<[String: Int]>([:])
        /// The names of each batch asked, in order.
        let batches = Mutex<[[String]]>([])
        /// Refuses batches as an MDS without `MDS_BATCH` does.
        let refusesBatches: Bool

        init(refusesBatches: Bool = false) { self.refusesBatches = refusesBatches }

        func create(_ name: String, _ id: UInt32) { names.withLock { $0[name] = id } }
        func count(_ name: String) -> Int { asked.withLock { $0[name] ?? 0 } }
        var total: Int { asked.withLock { $0.values.reduce(0, +) } }

        var fetch: LLiteStatahead.Fetch {
            { @Sendable (parent, name, credentials) async throws(LustreError) -> MDTAttributes in
                try self.answer(name)
            }
        }

        var fetchBatch: LLiteStatahead.FetchBatch {
            { @Sendable (parent, names, credentials) async throws(LustreError) -> [Result<MDTAttributes, LustreError>] in
                self.batches.withLock { $0.append(names) }
                if self.refusesBatches { throw LustreError.notSupported("MDT opcode 63") }
                return names.map { name in Result { () throws(LustreError) in try self.answer(name) } }
            }
        }

        private func answer(_ name: String) throws(LustreError) -> MDTAttributes {
            asked.withLock { $0[name, default: 0] += 1 }
            guard let id = names.withLock({ $0[name] }) else { throw LustreError(errno: ENOENT, "\(name)") }
            var attributes = MDTAttributes()
            attributes.fid = LustreFID(sequence: 0x200000400, objectID: id)
            return attributes
        }
    }

    let parent = LustreFID(sequence: 0x200000007, objectID: 1)
    let root = MDTCredentials(uid: 0, gid: 0, groups: [])

    func makeStatahead(maximum: Int = 8, batch: Int = 1, lifetime: Double = 5) -> LLiteStatahead {
        LLiteStatahead(maximum: Tunable(maximum, range: 0...8192), batchMaximum: Tunable(batch, range: 0...256),
                       lifetime: lifetime)
    }

    /// Looks `name` up (batching through `mds.fetchBatch` when `batched`); the object id found,
    /// or nil for ENOENT.
    func lookup(_ statahead: LLiteStatahead, _ mds: FakeMDS, _ name: String,
                credentials: MDTCredentials? = nil, batched: Bool = false) async -> UInt32? {
        do {
            let attributes = try await statahead.lookup(parent: parent, name: name, credentials: credentials ?? root,
                                                        fetch: mds.fetch, fetchBatch: batched ? mds.fetchBatch : nil)
            return attributes.fid.objectID
        } catch {
            XCTAssertEqual(error.errno, ENOENT, "\(name): \(error)")
            return nil
        }
    }

    func testNamesSplitIntoPrefixNumberAndWidth() {
        XCTAssertTrue(LLiteStatahead.split("f000005")! == ("f", 5, 6))
        XCTAssertTrue(LLiteStatahead.split("file10")! == ("file", 10, 0))
        XCTAssertTrue(LLiteStatahead.split("7")! == ("", 7, 0))
        XCTAssertNil(LLiteStatahead.split("README"))
        XCTAssertNil(LLiteStatahead.split("x1234567890"))
        XCTAssertEqual(LLiteStatahead.name(prefix: "f", number: 7, width: 6), "f000007")
        XCTAssertEqual(LLiteStatahead.name(prefix: "file", number: 11, width: 0), "file11")
    }

    /// Counting names are looked up ahead: each name reaches the MDS once, found or missing,
    /// and every answer is the MDS's.
    func testCountingNamesAreLookedUpOnceAndAnsweredRight() async throws {
        let mds = FakeMDS()
        for i in 0..<40 where i != 17 { mds.create(String(format: "f%04d", i), UInt32(100 + i)) }
        let statahead = makeStatahead()
        for i in 0..<40 {
            let found = await lookup(statahead, mds, String(format: "f%04d", i))
            XCTAssertEqual(found, i == 17 ? nil : UInt32(100 + i), "f\(i)")
        }
        for i in 0..<40 { XCTAssertEqual(mds.count(String(format: "f%04d", i)), 1, "f\(i) asked again") }
        XCTAssertGreaterThan(statahead.hitsTotal, 30)
        XCTAssertGreaterThan(statahead.sentTotal, 30)
    }

    /// A name this client changes is looked up again, not answered from before the change.
    func testForgetDropsWhatWasLookedUpAhead() async throws {
        let mds = FakeMDS()
        let statahead = makeStatahead()
        for i in 0..<3 { _ = await lookup(statahead, mds, "n\(i)") }
        try await waitUntil { mds.count("n5") == 1 }
        mds.create("n5", 55)
        statahead.forget(parent: parent, name: "n5")
        _ = await lookup(statahead, mds, "n3")
        _ = await lookup(statahead, mds, "n4")
        let found = await lookup(statahead, mds, "n5")
        XCTAssertEqual(found, 55)
        XCTAssertEqual(mds.count("n5"), 2)
    }

    /// Results expire after `lifetime`, and serve only the credentials they were sent with.
    func testExpiredOrOtherCredentialsLookUpAgain() async throws {
        let mds = FakeMDS()
        let statahead = makeStatahead(lifetime: 0.05)
        for i in 0..<3 { _ = await lookup(statahead, mds, "e\(i)") }
        try await waitUntil { mds.count("e3") == 1 && mds.count("e4") == 1 }
        try await Task.sleep(nanoseconds: 100_000_000)
        mds.create("e3", 33)
        let e3 = await lookup(statahead, mds, "e3")
        XCTAssertEqual(e3, 33)
        XCTAssertEqual(mds.count("e3"), 2)

        let fresh = makeStatahead()
        for i in 0..<3 { _ = await lookup(fresh, mds, "u\(i)") }
        try await waitUntil { mds.count("u3") == 1 }
        let user = MDTCredentials(uid: 1000, gid: 1000, groups: [])
        _ = await lookup(fresh, mds, "u3", credentials: user)
        XCTAssertEqual(mds.count("u3"), 2)
    }

    /// After a listing, lookups that follow it, in listing order or in byte order (`ls`), are
    /// looked up ahead: each name reaches the MDS once.
    func testListedNamesAreLookedUpAheadInEitherOrder() async throws {
        let words = ["kiwi", "apple", "mango", "fig", "banana", "cherry", "date", "grape", "lemon", "lime",
                     "melon", "nectarine", "olive", "peach", "pear", "plum", "quince", "raisin", "Zest", "yam"]
        for (label, order) in [("listing", words), ("ls", words.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })] {
            let mds = FakeMDS()
            for (i, word) in words.enumerated() where word != "date" { mds.create(word, UInt32(i + 1)) }
            let statahead = makeStatahead(maximum: 4)
            statahead.noteListing(parent: parent, names: [".", ".."] + Array(words[..<10]), fromStart: true)
            statahead.noteListing(parent: parent, names: Array(words[10...]), fromStart: false)
            for word in order {
                let found = await lookup(statahead, mds, word)
                XCTAssertEqual(found, word == "date" ? nil : UInt32(words.firstIndex(of: word)! + 1), "\(label): \(word)")
            }
            for word in words { XCTAssertEqual(mds.count(word), 1, "\(label): \(word) asked again") }
            XCTAssertGreaterThan(statahead.hitsTotal, 12, label)
            let stats = statahead.statsText()
            XCTAssertTrue(stats.contains("fname_total: 0\n"), stats)
            XCTAssertTrue(stats.contains("list_hit: \(statahead.hitsTotal)\n"), stats)
        }
    }

    /// With `statahead_batch_max`, names go ahead in batches of that many: each name still
    /// reaches the MDS once and is answered right, in a few requests instead of one each.
    func testBatchedLookupsAskEachNameOnceInFewRequests() async throws {
        let mds = FakeMDS()
        for i in 0..<100 where i % 9 != 4 { mds.create(String(format: "b%05d", i), UInt32(500 + i)) }
        let statahead = makeStatahead(maximum: 16, batch: 8)
        for i in 0..<100 {
            let found = await lookup(statahead, mds, String(format: "b%05d", i), batched: true)
            XCTAssertEqual(found, i % 9 == 4 ? nil : UInt32(500 + i), "b\(i)")
        }
        for i in 0..<100 { XCTAssertEqual(mds.count(String(format: "b%05d", i)), 1, "b\(i) asked again") }
        let batches = mds.batches.withLock { $0 }
        XCTAssertTrue(batches.allSatisfy { (1...8).contains($0.count) }, "\(batches.map(\.count))")
        XCTAssertLessThanOrEqual(batches.count, 16, "\(batches.map(\.count))")
        XCTAssertGreaterThan(statahead.hitsTotal, 90)
    }

    /// Walkers sharing one directory (each every 4th name, one of them far behind the others),
    /// a walk that starts over, two walkers far apart, and one walker taking every 4th name alone
    /// are all looked up ahead, though their lookups do not come one name after the other.
    func testInterleavedAndStridedWalkersAreLookedUpAhead() async throws {
        let mds = FakeMDS()
        for i in 0..<160 { mds.create(String(format: "w%05d", i), UInt32(i + 1)) }
        let statahead = makeStatahead(maximum: 32, batch: 8)
        // Walkers 0-2 take turns, never two neighbours one after the other; walker 3 lags twelve
        // rounds (more than the window) behind.
        var order: [Int] = []
        for round in 0..<52 {
            if round < 40 { for k in [2, 0, 1] { order.append(round * 4 + k) } }
            if round >= 12 { order.append((round - 12) * 4 + 3) }
        }
        XCTAssertEqual(Set(order).count, 160)
        for i in order {
            let found = await lookup(statahead, mds, String(format: "w%05d", i), batched: true)
            XCTAssertEqual(found, UInt32(i + 1), "w\(i)")
        }
        for i in 0..<160 { XCTAssertEqual(mds.count(String(format: "w%05d", i)), 1, "w\(i) asked again") }
        XCTAssertGreaterThan(statahead.hitsTotal, 140, statahead.statsText())

        // The same walk again from the start, then two walkers far apart taking turns: each
        // keeps a run of its own.
        let twoApart = (0..<80).flatMap { [$0, $0 + 80] }
        for (pass, walk) in [Array(0..<160), twoApart].enumerated() {
            let hits = statahead.hitsTotal
            let before = (0..<160).map { mds.count(String(format: "w%05d", $0)) }
            for i in walk {
                let found = await lookup(statahead, mds, String(format: "w%05d", i), batched: true)
                XCTAssertEqual(found, UInt32(i + 1), "w\(i)")
            }
            for i in 0..<160 {
                let asked = mds.count(String(format: "w%05d", i)) - before[i]
                XCTAssertEqual(asked, 1, "pass \(pass): w\(i)")
            }
            XCTAssertGreaterThan(statahead.hitsTotal - hits, 140, "pass \(pass): \(statahead.statsText())")
        }

        let strided = FakeMDS()
        for i in 0..<200 { strided.create("s\(i)", UInt32(i + 1)) }
        let alone = makeStatahead(maximum: 32, batch: 8)
        for i in stride(from: 0, to: 200, by: 4) {
            let found = await lookup(alone, strided, "s\(i)", batched: true)
            XCTAssertEqual(found, UInt32(i + 1), "s\(i)")
        }
        XCTAssertGreaterThan(alone.hitsTotal, 40, alone.statsText())
    }

    /// An MDS that refuses batches gets the same lookups one by one, and no more batches.
    func testRefusedBatchesFallBackToOneLookupEach() async throws {
        let mds = FakeMDS(refusesBatches: true)
        for i in 0..<60 { mds.create("r\(i)", UInt32(i + 1)) }
        let statahead = makeStatahead(maximum: 16, batch: 8)
        for i in 0..<60 {
            let found = await lookup(statahead, mds, "r\(i)", batched: true)
            XCTAssertEqual(found, UInt32(i + 1), "r\(i)")
        }
        for i in 0..<60 { XCTAssertEqual(mds.count("r\(i)"), 1, "r\(i) asked again") }
        XCTAssertLessThanOrEqual(mds.batches.withLock { $0.count }, 2, "the first refusal stops the batches")
        XCTAssertGreaterThan(statahead.hitsTotal, 50)
    }

    func testOffSendsNothingAhead() async throws {
        let mds = FakeMDS()
        let statahead = makeStatahead(maximum: 0)
        for i in 0..<10 { _ = await lookup(statahead, mds, "o\(i)") }
        XCTAssertEqual(mds.total, 10)
        XCTAssertEqual(statahead.sentTotal, 0)
    }

    private func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        for _ in 0..<500 where !condition() { try await Task.sleep(nanoseconds: 2_000_000) }
        XCTAssertTrue(condition(), "timed out")
    }
}
