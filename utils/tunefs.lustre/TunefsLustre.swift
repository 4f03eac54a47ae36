import LustreTargetTools
import ArgumentParser
import Glibc
import LibCFS
import ObdClass

/// `tunefs.lustre`: shows and changes a formatted target's `CONFIGS/mountdata`, on an unmounted
/// device or image (through libext2fs) or in a `--backfs-dir` directory, with Lustre's output.
@main
struct TunefsLustre: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunefs.lustre",
        abstract: "Show or change the permanent configuration of a Lustre target.",
        discussion: "The device must not be mounted. --dryrun only reads.")

    @Option(name: [.customLong("param"), .customShort("p")],
            help: "Set a permanent parameter KEY=VALUE, replacing any earlier value of KEY; repeatable.")
    var param: [String] = []
    @Flag(name: .customLong("erase-params"), help: "Erase all parameters before adding new ones.")
    var eraseParams = false
    @Option(name: .customLong("erase-param"), help: "Erase every value of parameter KEY; repeatable.")
    var eraseParam: [String] = []
    @Option(name: [.customLong("mgsnode"), .customShort("m")], help: "Add MGS NID(s); repeatable.")
    var mgsnode: [String] = []
    @Option(name: .customLong("mountfsoptions"), parsing: .unconditional, help: "Replace the permanent mount options.")
    var mountfsoptions: String?
    @Option(name: .customLong("comment"), help: "Replace the user comment.")
    var comment: String?
    @Flag(name: .customLong("writeconf"), help: "Regenerate the filesystem's config logs at the next start.")
    var writeconf = false
    @Option(name: .customLong("backfs-dir"), help: "A directory target made with mkfs.lustre --backfs-dir.")
    var backfsDir: String?

    @Flag(name: [.customLong("dryrun"), .customShort("n")], help: "Only report; write nothing.")
    var dryrun = false
    @Flag(name: [.customLong("verbose"), .customShort("v")], help: "Print more.")
    var verbose = false
    @Flag(name: [.customLong("quiet"), .customShort("q")], help: "Print less.")
    var quiet = false

    @Argument(help: "Block device or image file.")
    var device: String?

    static func main() { LustreTool.main(Self.self) }

    /// Checks the options together.  Called from `run()` rather than as ArgumentParser's
    /// `validate()`, which runs before unknown options are reported and would hide them.
    func checkOptions() throws {
        _ = try TargetLocation.named(device: device, backfsDir: backfsDir)
        for nids in mgsnode {
            if let problem = LustreTool.checkNIDList(nids) { throw ValidationError(problem) }
        }
        for text in param {
            do throws(LustreError) { _ = try MountData.Parameter(parsing: text) } catch { throw ValidationError(error.context) }
        }
    }

    /// Applies the requested changes the way Lustre's tunefs does; any change of parameters
    /// also sets `update` so the MGS hears of it at the next start.
    func apply(to data: inout MountData) throws(LustreError) {
        if eraseParams {
            data.rawParameters = ""
            data.flags.insert(.update)
        }
        for key in eraseParam where data.removeParameters(key: key) { data.flags.insert(.update) }
        for nids in mgsnode {
            try data.addParameter(.init(key: "mgsnode", value: nids))
            data.flags.insert(.update)
        }
        for text in param {
            try data.replaceParameter(try .init(parsing: text))
            data.flags.insert(.update)
        }
        if let mountfsoptions { data.mountOptions = mountfsoptions }
        if let comment { data.comment = comment }
        if writeconf { data.flags.insert(.writeconf) }
        try data.validate()
    }

    func run() throws {
        try checkOptions()
        let location = try TargetLocation.named(device: device, backfsDir: backfsDir)
        let existing = location.existingLustreData()
        print("checking for existing Lustre data: \(existing.isLustre ? "found" : "not found")")
        guard case .file(MountData.filePath) = existing else {
            throw ToolFailure(status: ENODEV, "Device \(location) has not been formatted with mkfs.lustre")
        }
        print("Reading \(MountData.filePath)")
        let previous: MountData
        do throws(LustreError) {
            previous = try location.readMountData()
        } catch {
            throw ToolFailure(status: error.errno, "cannot read \(MountData.filePath) of \(location): \(error)")
        }
        if !quiet { print(previous.report(heading: "Read previous values"), terminator: "") }

        var updated = previous
        do throws(LustreError) { try apply(to: &updated) } catch { throw ToolFailure(error) }
        if !quiet { print(updated.report(heading: "Permanent disk data"), terminator: "") }
        if dryrun {
            print("exiting before disk write.")
            return
        }
        print("Writing \(MountData.filePath)")
        do throws(LustreError) {
            try location.write(updated, label: nil)
        } catch where error.errno == EBUSY {
            throw ToolFailure(status: EBUSY, "\(location) is mounted; unmount it (stop its server) before changing it")
        } catch {
            throw ToolFailure(status: error.errno, "writing \(MountData.filePath) of \(location): \(error)")
        }
    }
}
