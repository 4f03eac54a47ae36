import Testing
@testable import LustreCompat

@Suite("C libraries link and answer")
struct CLibrarySmokeTests {
    @Test("liburing: a ring can be set up and torn down")
    func liburingRingInitAndExit() {
        #expect(URingBackend.probe() == 0)
    }

    @Test("libaio: an AIO context can be set up and destroyed")
    func libaioSetupAndDestroy() {
        #expect(LibAIOBackend.probe() == 0)
    }

    @Test("libfuse3: a low-level session can be created and destroyed")
    func fuseSessionCreateAndDestroy() throws {
        #expect(FuseLowLevelSession.libraryVersion >= 314)
        let session = try FuseLowLevelSession(arguments: ["lustre-smoke"])
        #expect(session.isCreated)
    }
}
