import LibCFS
import NIOCore
import XCTest

@testable import LNet
import LustreTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// Applies one to a few random mutations (flip, overwrite, insert, delete, truncate,
/// extend, poke a little-endian integer) to `bytes`.
func mutate(_ bytes: [UInt8], using rng: inout SplitMix64) -> [UInt8] {
    var out = bytes
    for _ in 0..<Int.random(in: 1...4, using: &rng) {
        switch Int.random(in: 0..<7, using: &rng) {
        case 0 where !out.isEmpty:   // flip a bit
            let i = Int.random(in: 0..<out.count, using: &rng)
            out[i] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
        case 1 where !out.isEmpty:   // overwrite a byte
            out[Int.random(in: 0..<out.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
        case 2:                      // insert bytes
            let at = Int.random(in: 0...out.count, using: &rng)
            out.insert(contentsOf: rng.bytes(Int.random(in: 1...16, using: &rng)), at: at)
        case 3 where !out.isEmpty:   // delete bytes
            let at = Int.random(in: 0..<out.count, using: &rng)
            out.removeSubrange(at..<min(out.count, at + Int.random(in: 1...16, using: &rng)))
        case 4:                      // truncate
            out.removeLast(Int.random(in: 0...out.count, using: &rng))
        case 5:                      // extend with garbage
            out.append(contentsOf: rng.bytes(Int.random(in: 1...64, using: &rng)))
        default:                     // poke an interesting 32-bit value at an aligned offset
            guard out.count >= 4 else { continue }
            let at = Int.random(in: 0...(out.count - 4) / 4, using: &rng) * 4
            let values: [UInt32] = [0, 1, 0x7fff_ffff, 0x8000_0000, .max, 16, 17, UInt32(LNetLimits.maxPayload),
                                    UInt32(LNetLimits.maxPayload) + 1, UInt32.random(in: 0...UInt32.max, using: &rng)]
            let value = values.randomElement(using: &rng)!
            for k in 0..<4 { out[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k))) }
        }
    }
    return out
}

/// A free-looking port in 20000-40000 (away from the real acceptor port 988).
func randomTestPort() -> Int { Int.random(in: 20000...40000) }

/// Configuration for test instances: few threads, short timeouts.
func testConfiguration(port: Int, listen: Bool = true) -> LNetConfiguration {
    TestNetwork.lnetConfiguration(port: port, listen: listen)
}

struct TestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Waits for `future`, failing with `TestTimeout` after `seconds` rather than hanging the suite.
func settle<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Int64 = 10, _ what: String = "a future") async throws -> T {
    let promise = future.eventLoop.makePromise(of: T.self)
    future.cascade(to: promise)
    let timer = future.eventLoop.scheduleTask(in: .seconds(seconds)) { promise.fail(TestTimeout(what: what)) }
    defer { timer.cancel() }
    return try await promise.futureResult.get()
}

/// The `LustreError` a failed operation reported, or a test failure.
func lustreError(_ error: any Error, file: StaticString = #filePath, line: UInt = #line) -> LustreError? {
    guard let error = error as? LustreError else {
        XCTFail("expected a LustreError, got \(type(of: error)): \(error)", file: file, line: line)
        return nil
    }
    return error
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
