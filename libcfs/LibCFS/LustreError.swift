#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error as Lustre reports it: an errno and the context in which it arose.
///
/// Every failure that crosses a component boundary is a `LustreError`, so the
/// errno survives all the way to the wire (a PtlRPC reply status is `-errno`)
/// and to the exit status of a tool.
public struct LustreError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The positive errno value, e.g. `ENOENT`.
    public var errno: Int32
    /// What was being done, for the log and the user ("connect 127.0.0.2@tcp").
    public var context: String

    @inlinable
    public init(errno: Int32, _ context: String = "") {
        self.errno = errno
        self.context = context
    }

    /// Builds an error from a negative status as carried in replies (`-ENOENT`).
    @inlinable
    public init(status: Int32, _ context: String = "") {
        self.init(errno: status < 0 ? -status : status, context)
    }

    /// The error captured from the C library's thread-local `errno`.
    public static func fromErrno(_ context: String = "") -> LustreError {
        LustreError(errno: Glibc.errno, context)
    }

    /// The negative value Lustre puts in a reply's status field.
    @inlinable
    public var status: Int32 { -errno }

    /// The C library's text for the errno ("No such file or directory").
    public var strerror: String { String(cString: Glibc.strerror(errno)) }

    public var description: String {
        context.isEmpty ? "\(strerror) (\(status))" : "\(context): \(strerror) (\(status))"
    }

    /// The same errno with more context in front ("open OST0000: connect …").
    public func adding(context outer: String) -> LustreError {
        LustreError(errno: errno, context.isEmpty ? outer : "\(outer): \(context)")
    }
}

extension LustreError {
    public static func invalid(_ context: String) -> LustreError { LustreError(errno: EINVAL, context) }
    public static func notSupported(_ context: String) -> LustreError { LustreError(errno: EOPNOTSUPP, context) }
    public static func timedOut(_ context: String) -> LustreError { LustreError(errno: ETIMEDOUT, context) }
    public static func protocolError(_ context: String) -> LustreError { LustreError(errno: EPROTO, context) }
}
