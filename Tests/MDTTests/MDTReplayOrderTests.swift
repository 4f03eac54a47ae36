import LibCFS
import Synchronization
import Testing
@testable import MDT

private final class Finished: Sendable {
    let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
}

/// Replays of lost changes in transno order across clients, gaps passed over after a while.
@Suite("MDT replay order")
struct MDTReplayOrderTests {
    @Test("a replay of a change that survived, or of none (an open again), is not held")
    func survivedOrNoChange() async {
        let order = MDTReplayOrder(lastTransnoAtStart: 10, gapTimeout: 30)
        #expect(await order.turn(10, within: 0.05) == .survived)
        #expect(await order.turn(3, within: 0.05) == .survived)
        #expect(await order.turn(0, within: 0.05) == .now)
        #expect(order.status.next == 11 && order.status.queued == 0)
    }

    @Test("replays in transno order go at once")
    func inOrder() async {
        let order = MDTReplayOrder(lastTransnoAtStart: 10, gapTimeout: 30)
        for transno: UInt64 in 11...13 {
            #expect(await order.turn(transno, within: 0.05) == .now)
            order.done(transno)
        }
    }

    @Test("a replay waits until the lower lost transnos are made again")
    func waitsForLower() async throws {
        let order = MDTReplayOrder(lastTransnoAtStart: 10, gapTimeout: 30)
        let finished = Finished()
        let later = Task {
            let went = await order.turn(13, within: 10) == .now
            finished.value.store(true, ordering: .releasing)
            order.done(13)
            return went
        }
        try await Task.sleep(nanoseconds: 200_000_000)
        #expect(!finished.isSet, "13 waits for 11 and 12")
        #expect(order.status.next == 11 && order.status.queued == 1, "recovery_status: next_transno, queued_requests")
        #expect(await order.turn(11, within: 0.05) == .now)
        order.done(11)
        try await Task.sleep(nanoseconds: 100_000_000)
        #expect(!finished.isSet, "13 still waits for 12")
        #expect(await order.turn(12, within: 0.05) == .now)
        order.done(12)
        #expect(await later.value, "13 goes once 12 is made")
        #expect(order.status.next == 14 && order.status.queued == 0)
        #expect(await order.turn(14, within: 0.05) == .now)
    }

    @Test("a replay that waited long enough is told to come again, and still holds its place")
    func comeAgain() async throws {
        let order = MDTReplayOrder(lastTransnoAtStart: 0, gapTimeout: 30)
        #expect(await order.turn(3, within: 0.1) == .later, "1 and 2 are not made: come again")
        #expect(await order.turn(1, within: 0.05) == .now)
        order.done(1)
        #expect(await order.turn(2, within: 0.05) == .now)
        order.done(2)
        #expect(await order.turn(3, within: 0.05) == .now, "its turn now")
        order.done(3)
    }

    @Test("a gap no client fills is passed over after the gap timeout; what comes later goes at once")
    func gapPassedOver() async throws {
        let order = MDTReplayOrder(lastTransnoAtStart: 0, gapTimeout: 0.4)
        let started = MonotonicClock.nanoseconds()
        // Told to come again twice, as a client is, before the gap is passed over.
        var went = false
        for _ in 0..<20 where !went {
            went = await order.turn(5, within: 0.15) == .now
            if !went { try await Task.sleep(nanoseconds: 50_000_000) }
        }
        let waited = Double(MonotonicClock.nanoseconds() - started) / 1e9
        #expect(went)
        #expect(waited >= 0.35, "not before the gap timeout (\(waited) s)")
        order.done(5)
        #expect(await order.turn(3, within: 0.05) == .now, "a replay below the next transno goes at once")
        order.done(3)
        #expect(await order.turn(6, within: 0.05) == .now)
    }
}
