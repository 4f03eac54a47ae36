#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import LNet
import LibCFS
import LustreCompat
import XCTest

/// What the component tests that start servers in-process share: fast-failing LNet settings,
/// scratch directories, and errno assertions.
public enum TestNetwork {
    /// LNet settings for tests: short connect and transaction timeouts and quick reconnects, so
    /// a test about a dead peer fails in seconds, not minutes.
    public static func lnetConfiguration(port: Int, listen: Bool) -> LNetConfiguration {
        var configuration = LNetConfiguration()
        configuration.acceptPort = port
        configuration.listen = listen
        configuration.connectTimeout = 2
        configuration.transactionTimeout = 10
        configuration.minReconnectMilliseconds = 20
        configuration.maxReconnectMilliseconds = 200
        return configuration
    }
}

/// Removes a directory tree (test scratch only); returns rm's exit status.
@discardableResult
public func removeTree(_ path: String) -> Int32 {
    (try? ExternalCommand.run(["rm", "-rf", path])) ?? -1
}

extension XCTestCase {
    /// Asserts that `body` throws a LustreError with `errno`.
    public func assertErrno<T>(_ errno: Int32, _ body: () async throws -> T, file: StaticString = #filePath,
                               line: UInt = #line) async {
        do {
            _ = try await body()
            XCTFail("expected errno \(errno), got success", file: file, line: line)
        } catch let error as LustreError {
            XCTAssertEqual(error.errno, errno, "\(error)", file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }
}

/// SplitMix64: a tiny seeded generator, so every fuzz or storm failure reproduces from its seed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// `count` random bytes, eight from each number.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = next()
            for _ in 0..<min(8, count - out.count) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass; returns whether it held (the
/// caller asserts what it waited for).
@discardableResult
public func waitUntil(within seconds: Double, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
    return true
}
