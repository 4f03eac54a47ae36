/// One read or write in a batch handed to `IOEngine.submit(_:)`.
///
/// Holds a raw pointer, so the same lifetime rule applies as for single calls: the memory must
/// stay valid until `submit` returns.
public struct IOOperation: @unchecked Sendable {
    /// Which way the bytes go.
    public enum Direction: Sendable { case read, write }

    public let direction: Direction
    public let fd: Int32
    public let buffer: UnsafeMutableRawBufferPointer
    public let offset: Int64

    /// Reads into `buffer` from `fd` at `offset`.
    public static func read(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> IOOperation {
        IOOperation(direction: .read, fd: fd, buffer: buffer, offset: offset)
    }

    /// Writes `buffer` to `fd` at `offset`.
    public static func write(fd: Int32, from buffer: UnsafeRawBufferPointer, at offset: Int64) -> IOOperation {
        IOOperation(direction: .write, fd: fd, buffer: UnsafeMutableRawBufferPointer(mutating: buffer), offset: offset)
    }

    var request: IORequest {
        IORequest(direction == .read ? .read : .write, fd: fd, base: buffer.baseAddress, length: buffer.count, offset: offset)
    }
}
