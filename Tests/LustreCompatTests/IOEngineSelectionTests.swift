import Glibc
import LibCFS
import Testing
@testable import LustreCompat

@Suite("IOEngine selection")
struct IOEngineSelectionTests {
    @Test("probing picks io_uring on this machine")
    func probePicksIoUring() {
        #expect(IOEngineKind.probe() == .ioUring)
    }

    @Test("no kind means the probed kind")
    func defaultEngineIsProbedKind() throws {
        let engine = try makeIOEngine()
        defer { engine.shutdown() }
        #expect(engine.kind == IOEngineKind.probe())
    }

    @Test("kinds are named as the --io-engine option spells them")
    func kindsParseFromNames() {
        #expect(IOEngineKind(name: "io_uring") == .ioUring)
        #expect(IOEngineKind(name: "libaio") == .libaio)
        #expect(IOEngineKind(name: "SYNC") == .sync)
        #expect(IOEngineKind(name: "posixaio") == nil)
        #expect(IOEngineKind.allCases.map(\.description) == ["io_uring", "libaio", "sync"])
    }

    @Test("a queue depth of zero is refused with EINVAL")
    func zeroQueueDepthIsRefused() {
        #expect(throws: LustreError.self) { _ = try makeIOEngine(kind: .ioUring, queueDepth: 0) }
        do {
            _ = try makeIOEngine(kind: .sync, queueDepth: 0)
        } catch {
            #expect(error.errno == EINVAL)
        }
    }
}
