import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs setstripe [-c COUNT] [-S SIZE] [-i INDEX] PATH...`: a new empty file with that layout, or a
/// directory's default layout; `lfs setstripe -d DIR...` removes directories' defaults.
struct Setstripe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setstripe",
        abstract: "Create empty files with a layout, or set a directory's default layout.")

    @Option(name: [.customShort("c"), .customLong("stripe-count")], parsing: .unconditional,
            help: "Stripes (OSTs) per file; -1 for all OSTs, 0 for the default.")
    var stripeCount: Int = 0
    @Option(name: [.customShort("S"), .customLong("stripe-size")], parsing: .unconditional,
            help: "Bytes per stripe, a multiple of 64K (suffixes K, M, G); 0 for the default.")
    var stripeSize: String = "0"
    @Option(name: [.customShort("i"), .customLong("stripe-index")], parsing: .unconditional,
            help: "The first OST's index; -1 lets the MDS choose.")
    var stripeIndex: Int = -1
    @Flag(name: [.customShort("d"), .customLong("delete")],
          help: "Remove the directories' default layouts (new files then take the parent's, then the filesystem's).")
    var delete = false
    @Argument(help: "Files to create or directories to set.") var paths: [String]

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("give at least one PATH") }
        if delete && (stripeCount != 0 || stripeSize != "0" || stripeIndex != -1) {
            throw ValidationError("-d takes no other layout option")
        }
        guard stripeCount == -1 || (0...LustreLayout.maxStripeCount).contains(stripeCount) else {
            throw ValidationError("stripe count \(stripeCount) must be -1 or 0...\(LustreLayout.maxStripeCount)")
        }
        guard stripeIndex == -1 || (0..<0xffff).contains(stripeIndex) else {
            throw ValidationError("stripe index \(stripeIndex) must be -1 or 0...65534")
        }
    }

    func run() throws {
        if delete { return try deleteDefaults() }
        let layout: LustreLayout
        do throws(LustreError) {
            let size = try NumberText.size(stripeSize)
            guard size <= Int(UInt32.max) else { throw LustreError.invalid("stripe size \(stripeSize) is too large") }
            var requested = LustreLayout(stripeSize: UInt32(size),
                                         stripeCount: stripeCount == -1 ? LustreLayout.stripeCountAll : UInt16(stripeCount),
                                         stripeOffset: stripeIndex == -1 ? LustreLayout.stripeOffsetAny : UInt16(stripeIndex))
            requested.objects = []
            try requested.validateSettings()
            layout = requested
        } catch {
            throw fail("setstripe", error)
        }
        let bytes = Array(layout.encoded().readableBytesView)
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                try setstripe(path, bytes)
            } catch {
                failure = fail("setstripe", error.adding(context: "setstripe error for '\(path)'"))
            }
        }
        if let failure { throw failure }
    }

    /// Removes each directory's default layout; one without a default is left as it is.
    private func deleteDefaults() throws {
        var failure: ExitCode?
        for path in paths {
            do throws(LustreError) {
                _ = try LustreMounts.containing(path)
                var st = stat()
                guard stat(path, &st) == 0 else { throw LustreError.fromErrno() }
                guard st.st_mode & S_IFMT == S_IFDIR else { throw LustreError(errno: ENOTDIR, "not a directory") }
                do throws(LustreError) {
                    try Xattr.remove(path, "lustre.lov")
                } catch where error.errno == ENODATA {
                }
            } catch {
                failure = fail("setstripe", error.adding(context: "delete default layout of '\(path)'"))
            }
        }
        if let failure { throw failure }
    }

    private func setstripe(_ path: String, _ layout: [UInt8]) throws(LustreError) {
        _ = try LustreMounts.containing(path)
        var st = stat()
        if stat(path, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFDIR {
                try Xattr.set(path, "lustre.lov", layout)
                return
            }
            // An existing file keeps the objects it has, as on Lustre.
            throw LustreError(errno: EEXIST, "stripe already set")
        }
        guard errno == ENOENT else { throw LustreError.fromErrno() }
        let (parent, name) = LustreMounts.split(path)
        try Xattr.set(parent, "lustre.setstripe.\(name)", layout, flags: Xattr.create)
    }
}
