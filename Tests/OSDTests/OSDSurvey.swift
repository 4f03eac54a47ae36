import Foundation
import Glibc
import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import Synchronization
import Testing
@testable import OSD

/// The OSD half of `tests/bench/obdfilter-survey.sh` (Lustre's local OST benchmark): write,
/// rewrite and read of N objects with 1 MiB I/Os at a given queue depth, straight on the OSD.
/// Not a test: it asserts only that the data moved, and is off unless `OSD_SURVEY` is set.
///
/// Environment: `OSD_SURVEY_DIR` (ext4 directory, default /tmp), `OSD_SURVEY_OBJECTS` (4),
/// `OSD_SURVEY_SIZE_MB` per object (256), `OSD_SURVEY_IO_KB` (1024), `OSD_SURVEY_QDS` ("1,8,32"),
/// `OSD_SURVEY_ENGINES` ("io_uring,libaio,sync"; libaio runs O_DIRECT), `OSD_SURVEY_DROP_CACHES`
/// (1: drop the page cache before reads, as fio's `invalidate=1` does for its files).
/// Prints `SURVEY osd <engine> <qd> <phase> <MB/s>` per figure.
@Suite("OSDSurvey", .serialized, .enabled(if: ProcessInfo.processInfo.environment["OSD_SURVEY"] != nil))
struct OSDSurvey {
    static let environment = ProcessInfo.processInfo.environment
    static func setting(_ name: String, _ fallback: String) -> String { environment[name] ?? fallback }

    /// Hands out chunk numbers to the workers.
    final class Cursor: Sendable {
        let next = Atomic<Int>(0)
        func take() -> Int { next.wrappingAdd(1, ordering: .relaxed).oldValue }
    }

    @Test("obdfilter-survey on the OSD")
    func survey() async throws {
        let base = Self.setting("OSD_SURVEY_DIR", "/tmp")
        let objects = Int(Self.setting("OSD_SURVEY_OBJECTS", "4"))!
        let objectSize = Int(Self.setting("OSD_SURVEY_SIZE_MB", "256"))! << 20
        let ioSize = Int(Self.setting("OSD_SURVEY_IO_KB", "1024"))! << 10
        let depths = Self.setting("OSD_SURVEY_QDS", "1,8,32").split(separator: ",").map { Int($0)! }
        let engines = Self.setting("OSD_SURVEY_ENGINES", "io_uring,libaio,sync").split(separator: ",")
            .map { IOEngineKind(name: String($0))! }
        let dropCaches = Self.setting("OSD_SURVEY_DROP_CACHES", "1") == "1"
        for engine in engines {
            for depth in depths {
                try await run(engine: engine, depth: depth, base: base, objects: objects, objectSize: objectSize,
                              ioSize: ioSize, dropCaches: dropCaches)
            }
        }
    }

    private func run(engine: IOEngineKind, depth: Int, base: String, objects: Int, objectSize: Int, ioSize: Int,
                     dropCaches: Bool) async throws {
        let root = "\(base)/osd-survey-\(getpid())-\(engine)-\(depth)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var options = OSDDevice.Options()
        options.engine = engine
        options.queueDepth = depth
        options.directIO = engine == .libaio
        let osd = try await OSDDevice.open(root: root, options: options)
        let ids = try await osd.precreate(sequence: 0, count: objects).map { OSTObjectID(sequence: 0, objectID: $0) }
        let buffers = (0..<depth).map { alignedBuffer(pattern(ioSize, seed: $0)) }
        let chunks = objects * (objectSize / ioSize)
        let total = Double(chunks * ioSize)

        for phase in ["write", "rewrite", "read"] {
            if phase == "read" && dropCaches { Self.dropPageCache() }
            let cursor = Cursor()
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<depth {
                    group.addTask {
                        while true {
                            let chunk = cursor.take()
                            if chunk >= chunks { return }
                            // Round-robin over the objects, as fio's file_service_type does.
                            let id = ids[chunk % objects]
                            let offset = UInt64((chunk / objects) * ioSize)
                            if phase == "read" {
                                let data = try await osd.read(id, offset: offset, length: ioSize)
                                if data.readableBytes != ioSize { throw LustreError(errno: EIO, "short read \(id) at \(offset)") }
                            } else {
                                _ = try await osd.write(id, pieces: [(offset: offset, data: buffers[worker])])
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // Writes count once durable, as fio's end_fsync=1 makes its figure.
            if phase != "read" { _ = try await osd.sync() }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(String(format: "SURVEY osd %@ %d %@ %.1f", engine.rawValue, depth, phase, total / 1e6 / seconds))
        }
        await osd.close()
    }

    /// Writes dirty pages back and drops clean ones, so reads come from the disk (root only;
    /// silently skipped otherwise).
    static func dropPageCache() {
        Glibc.sync()
        let fd = open("/proc/sys/vm/drop_caches", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "3\n", 2)
        close(fd)
    }
}
