import NIOCore

#if canImport(Glibc)
import Glibc
#endif
import ObdClass

/// The bytes the survey writes where it will check them later: a function of the object, the
/// offset and a generation (each pass writes a new one), so any misplaced, stale or torn block
/// shows up as a mismatch.
enum SurveyPattern {
    static func make(object: OSTObjectID, offset: UInt64, length: Int, generation: UInt64) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: length)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { raw in
            let words = length / 8
            let seed = object.objectID &* 0x9e37_79b9_7f4a_7c15 ^ object.sequence ^ (generation << 56)
            for index in 0..<words {
                raw.storeBytes(of: (seed ^ (offset &+ UInt64(index) &* 8)).littleEndian, toByteOffset: index * 8,
                               as: UInt64.self)
            }
            for tail in (words * 8)..<length { raw[tail] = UInt8(truncatingIfNeeded: seed ^ UInt64(tail)) }
            return length
        }
        return buffer
    }

    /// Whether `data` is exactly what `make` gives for the same arguments.
    static func matches(_ data: ByteBuffer, object: OSTObjectID, offset: UInt64, length: Int, generation: UInt64) -> Bool {
        guard data.readableBytes == length else { return false }
        let expected = make(object: object, offset: offset, length: length, generation: generation)
        return data.withUnsafeReadableBytes { actual in
            expected.withUnsafeReadableBytes { memcmp(actual.baseAddress!, $0.baseAddress!, length) == 0 }
        }
    }
}
