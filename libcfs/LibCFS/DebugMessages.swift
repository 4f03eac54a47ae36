// Lustre's debug macros as functions.  Each checks the mask with one atomic
// load before touching its message, so a disabled CDEBUG costs a load and a
// branch: the autoclosure is never evaluated.

/// Logs `message` if `mask` is enabled (`lctl set_param debug=+net`); the
/// message is not built otherwise.  `CDEBUG(.net, "peer \(nid) is down")`.
@inlinable
public func CDEBUG(_ mask: DebugMask, _ message: @autoclosure () -> String,
                   file: StaticString = #fileID, function: StaticString = #function,
                   line: UInt = #line) {
    if LustreDebug.isEnabled(mask) {
        LustreDebug.log(mask, message(), file: file, function: function, line: line)
    }
}

/// An error, always kept and printed (`<3>LustreError: …`).
@inlinable
public func CERROR(_ message: @autoclosure () -> String,
                   file: StaticString = #fileID, function: StaticString = #function,
                   line: UInt = #line) {
    LustreDebug.log(.error, message(), file: file, function: function, line: line)
}

/// A warning, always kept and printed (`<4>Lustre: …`).
@inlinable
public func CWARN(_ message: @autoclosure () -> String,
                  file: StaticString = #fileID, function: StaticString = #function,
                  line: UInt = #line) {
    LustreDebug.log(.warning, message(), file: file, function: function, line: line)
}

/// A network error, always kept and printed (`<3>LNetError: …`).
@inlinable
public func CNETERR(_ message: @autoclosure () -> String,
                    file: StaticString = #fileID, function: StaticString = #function,
                    line: UInt = #line) {
    LustreDebug.log(.neterror, message(), file: file, function: function, line: line)
}

/// An emergency (`CEMERG`), always kept and printed (`<0>LustreError: …`).
@inlinable
public func CEMERG(_ message: @autoclosure () -> String,
                   file: StaticString = #fileID, function: StaticString = #function,
                   line: UInt = #line) {
    LustreDebug.log(.emerg, message(), file: file, function: function, line: line)
}

/// A console notice for the administrator (`LCONSOLE_INFO`), always kept and
/// printed without a source location (`<5>Lustre: testfs-OST0000: recovery over`).
@inlinable
public func LCONSOLE(_ message: @autoclosure () -> String,
                     file: StaticString = #fileID, function: StaticString = #function,
                     line: UInt = #line) {
    LustreDebug.log(.console, message(), file: file, function: function, line: line)
}
