import Glibc
import LibCFS

/// The public face of every backend: validation, error mapping and the continuation plumbing
/// live here once.
///
/// Backend threads hold the backend, never this handle, so dropping the last handle reference
/// runs `deinit`, which shuts the backend down: an engine that is simply forgotten still leaves
/// no thread behind.
final class IOEngineHandle<Backend: IOBackend>: IOEngine {
    let backend: Backend

    init(_ backend: Backend) { self.backend = backend }

    deinit { backend.shutdown() }

    var kind: IOEngineKind { backend.kind }

    func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int {
        try await run(IORequest(.read, fd: fd, base: buffer.baseAddress, length: buffer.count, offset: offset))
    }

    func write(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int {
        try await run(IORequest(.write, fd: fd, base: UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                                length: buffer.count, offset: offset))
    }

    func fsync(fd: Int32) async throws(LustreError) {
        _ = try await run(IORequest(.fsync, fd: fd))
    }

    func fdatasync(fd: Int32) async throws(LustreError) {
        _ = try await run(IORequest(.fdatasync, fd: fd))
    }

    func submit(_ operations: [IOOperation]) async -> [Result<Int, LustreError>] {
        if operations.isEmpty { return [] }
        var requests = [IORequest]()
        requests.reserveCapacity(operations.count)
        for operation in operations { requests.append(operation.request) }
        let batch = IOBatch(count: requests.count)
        if !requests.contains(where: { $0.offset < 0 }) {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                batch.continuation = continuation
                backend.start(requests, batch)
            }
        } else {
            // Rare path.  io_uring reads offset -1 as "the file position": refuse negative
            // offsets up front, run the rest, and scatter their results back.
            let valid = requests.indices.filter { requests[$0].offset >= 0 }
            for i in requests.indices { batch.results[i] = -Int(EINVAL) }
            if !valid.isEmpty {
                let sub = IOBatch(count: valid.count)
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    sub.continuation = continuation
                    backend.start(valid.map { requests[$0] }, sub)
                }
                for (j, i) in valid.enumerated() { batch.results[i] = sub.results[j] }
            }
        }
        return (0..<operations.count).map { i in
            let result = batch.results[i]
            return result >= 0 ? .success(result) : .failure(Self.error(result, requests[i]))
        }
    }

    func shutdown() { backend.shutdown() }

    @inline(__always)
    private func run(_ request: IORequest) async throws(LustreError) -> Int {
        guard request.offset >= 0 else { throw Self.error(-Int(EINVAL), request) }
        let backend = self.backend
        let result = await withUnsafeContinuation { (continuation: UnsafeContinuation<Int, Never>) in
            backend.start(request, .single(continuation))
        }
        if result < 0 { throw Self.error(result, request) }
        return result
    }

    private static func error(_ result: Int, _ request: IORequest) -> LustreError {
        let what: String
        switch request.opcode {
        case .read: what = "read fd \(request.fd) at \(request.offset) length \(request.length)"
        case .write: what = "write fd \(request.fd) at \(request.offset) length \(request.length)"
        case .fsync: what = "fsync fd \(request.fd)"
        case .fdatasync: what = "fdatasync fd \(request.fd)"
        }
        return LustreError(errno: Int32(truncatingIfNeeded: -result), what)
    }
}
