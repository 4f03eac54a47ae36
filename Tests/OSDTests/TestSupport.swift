import Foundation
import Glibc
import LibCFS
import LustreCompat
import NIOCore
import ObdClass
import Testing
@testable import OSD

/// A fresh directory under /tmp (ext4 here, so O_DIRECT and xattrs work), removed on deinit.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/osd-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LustreError.fromErrno("mkdtemp") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func exists(_ relative: String) -> Bool { access("\(path)/\(relative)", F_OK) == 0 }
}

/// One way of running the OSD: an engine, buffered or direct.
struct EngineCase: Sendable, CustomTestStringConvertible {
    var kind: IOEngineKind
    var directIO: Bool

    var testDescription: String { directIO ? "\(kind) O_DIRECT" : "\(kind)" }

    var options: OSDDevice.Options {
        var options = OSDDevice.Options()
        options.engine = kind
        options.directIO = directIO
        options.directWrites = directIO
        options.queueDepth = 32
        return options
    }

    /// libaio is asynchronous only on O_DIRECT descriptors, so it runs direct (with aligned I/O).
    static let all: [EngineCase] = [
        EngineCase(kind: .ioUring, directIO: false),
        EngineCase(kind: .ioUring, directIO: true),
        EngineCase(kind: .libaio, directIO: true),
        EngineCase(kind: .sync, directIO: false),
    ]
}

/// Opens an OSD on a new scratch directory, runs `body`, and closes the device whatever happens.
func withOSD<T>(_ options: OSDDevice.Options = .init(), in directory: ScratchDirectory? = nil,
                _ body: (OSDDevice, ScratchDirectory) async throws -> T) async throws -> T {
    let scratch = try directory ?? ScratchDirectory()
    let osd = try await OSDDevice.open(root: scratch.path, options: options)
    do {
        let result = try await body(osd, scratch)
        await osd.close()
        return result
    } catch {
        await osd.close()
        throw error
    }
}

/// Bytes that differ per position and per `seed`, so misplaced data shows.
func pattern(_ count: Int, seed: Int = 1) -> [UInt8] {
    (0..<count).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31 &+ $0 &+ seed &* 101) }
}

/// A ByteBuffer holding `bytes` at a 4 KiB-aligned address (as an O_DIRECT write needs), made
/// by slicing a larger allocation: the readable bytes start on a page boundary.
func alignedBuffer(_ bytes: [UInt8]) -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: bytes.count + 4096)
    let pad = buffer.withVeryUnsafeMutableBytes { (4096 - Int(bitPattern: $0.baseAddress!) % 4096) % 4096 }
    buffer.writeRepeatingByte(0, count: pad)
    buffer.writeBytes(bytes)
    buffer.moveReaderIndex(forwardBy: pad)
    return buffer
}

extension ByteBuffer {
    var bytes: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

/// Expects `body` to fail with a `LustreError` carrying `errno`.
func expectErrno(_ errno: Int32, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): expected errno \(errno), got success", sourceLocation: sourceLocation)
    } catch let error as LustreError {
        #expect(error.errno == errno, "\(what): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): expected LustreError, got \(error)", sourceLocation: sourceLocation)
    }
}

let object1 = OSTObjectID(sequence: 0, objectID: 1)
let object2 = OSTObjectID(sequence: 0, objectID: 2)
