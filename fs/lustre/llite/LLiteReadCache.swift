import LOV
import LibCFS
import NIOCore

/// Read-ahead data of one file: whole RPC-sized chunks of each stripe's object, fetched ahead of
/// a sequential reader (Lustre's read-ahead pages, `ll_readahead`). A chunk is a task so a
/// reader can wait for a fetch that read-ahead already started.
struct LLiteReadCache: Sendable {
    struct Key: Hashable, Sendable {
        var stripe: Int
        /// Object offset of the chunk, a multiple of its length.
        var start: UInt64
    }

    struct Chunk: Sendable {
        /// The object range the chunk stands for (`rpcBytes`); fewer bytes may have been read
        /// where the object ends.
        var length: Int
        var fetch: Task<Result<ByteBuffer, LustreError>, Never>
    }

    private(set) var chunks: [Key: Chunk] = [:]

    var isEmpty: Bool { chunks.isEmpty }
    var count: Int { chunks.count }

    /// The keys of the chunks that cover `[objectStart, objectEnd)` of `stripe`.
    static func keys(stripe: Int, objectStart: UInt64, objectEnd: UInt64, chunkBytes: Int) -> [Key] {
        guard objectEnd > objectStart else { return [] }
        let size = UInt64(chunkBytes)
        var keys: [Key] = []
        var position = objectStart / size * size
        while position < objectEnd {
            keys.append(Key(stripe: stripe, start: position))
            position += size
        }
        return keys
    }

    subscript(key: Key) -> Chunk? { chunks[key] }

    mutating func insert(_ chunk: Chunk, for key: Key) { chunks[key] = chunk }

    /// Drops chunks that overlap `[objectStart, objectEnd)` of `stripe` (written over).
    mutating func invalidate(stripe: Int, objectStart: UInt64, objectEnd: UInt64) {
        guard !chunks.isEmpty else { return }
        chunks = chunks.filter { key, chunk in
            key.stripe != stripe || key.start + UInt64(chunk.length) <= objectStart || key.start >= objectEnd
        }
    }

    /// Keeps only chunks of each stripe within `[low(stripe), high(stripe))`: behind the reader
    /// or beyond the window is dropped.
    mutating func trim(low: (Int) -> UInt64, high: (Int) -> UInt64) {
        guard !chunks.isEmpty else { return }
        chunks = chunks.filter { key, chunk in
            key.start + UInt64(chunk.length) > low(key.stripe) && key.start < high(key.stripe)
        }
    }

    mutating func removeAll() { chunks.removeAll() }
}
