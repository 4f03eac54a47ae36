import Glibc
import LibCFS

/// Asynchronous positional file I/O, the way the OSD does all of its data I/O.
///
/// Semantics follow `pread(2)`/`pwrite(2)`: a call returns the number of bytes transferred,
/// which may be short (end of file, or a transfer above Linux's ~2 GiB per-call cap); use
/// `readFully`/`writeAll` to loop.  Failures are `LustreError`s carrying the kernel's errno.
///
/// **Buffer lifetime.** The memory passed in must stay valid and unmoved until the call returns:
/// the kernel reads or writes it asynchronously.  Use heap memory (`AlignedBuffer`,
/// `IOBufferPool` slabs), never a pointer escaped from `withUnsafeBytes`.  Requests are not
/// cancellable: a cancelled task still waits for the kernel to finish with the buffer, so
/// returning can never hand the memory back while a DMA or copy is in flight.
///
/// Implementations are thread-safe and shared by all callers.  Call `shutdown()` when done
/// (dropping the last reference does it too); accepted requests complete first.
public protocol IOEngine: AnyObject, Sendable {
    /// Which implementation this is.
    var kind: IOEngineKind { get }

    /// Reads up to `buffer.count` bytes at `offset`; returns the count read (0 at end of file).
    func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int

    /// Writes up to `buffer.count` bytes at `offset`; returns the count written.
    func write(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int

    /// Flushes the file's data and metadata to stable storage.
    func fsync(fd: Int32) async throws(LustreError)

    /// Flushes the file's data, and only the metadata needed to read it back.
    func fdatasync(fd: Int32) async throws(LustreError)

    /// Runs many reads and writes at once, with as few submissions as the engine allows.
    ///
    /// The operations are independent (no ordering between them); results come back in the
    /// same order, one per operation.
    func submit(_ operations: [IOOperation]) async -> [Result<Int, LustreError>]

    /// Refuses new requests (`ESHUTDOWN`), lets accepted ones finish, and stops the engine's
    /// threads.  Idempotent; returns once nothing is left running.
    func shutdown()
}

extension IOEngine {
    /// Reads until `buffer` is full or the file ends; returns the count read.
    public func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) async throws(LustreError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = try await read(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]),
                                   at: offset + Int64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Writes all of `buffer`, looping on short writes.
    public func writeAll(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) async throws(LustreError) {
        var done = 0
        while done < buffer.count {
            let n = try await write(fd: fd, from: UnsafeRawBufferPointer(rebasing: buffer[done...]),
                                    at: offset + Int64(done))
            // A regular file never takes zero bytes without an error; don't spin if one does.
            if n == 0 { throw LustreError(errno: EIO, "write fd \(fd) at \(offset + Int64(done)): no progress") }
            done += n
        }
    }
}
