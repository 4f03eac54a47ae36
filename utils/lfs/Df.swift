import ArgumentParser
import LibCFS
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lfs df [-h] [-i] [PATH]`: space (or inodes) per MDT and OST and the filesystem's total, in
/// Lustre's format.
struct Df: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "df",
        abstract: "Report space or inode use of each MDT and OST of Lustre mounts.")

    @Flag(name: [.customShort("h"), .customLong("human-readable")], help: "Sizes with K, M, G, T suffixes.")
    var human = false
    @Flag(name: [.customShort("i"), .customLong("inodes")], help: "Inodes instead of blocks.") var inodes = false
    @Argument(help: "A path in the Lustre filesystem to report on (default: every Lustre mount).") var path: String?

    /// One target's line as mount.lustre reports it (`lustre.statfs`, utils/lfs/README.md).
    struct TargetStatfs {
        var uuid: String
        var kind: String
        var index: UInt32
        /// nil: the target did not answer.
        var counts: (blockSize: UInt64, blocks: UInt64, free: UInt64, available: UInt64, files: UInt64, filesFree: UInt64)?
    }

    static func parse(_ text: String) throws(LustreError) -> [TargetStatfs] {
        var result: [TargetStatfs] = []
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ").map(String.init)
            guard f.count >= 4, let index = UInt32(f[2]) else { throw .protocolError("bad statfs line '\(line)'") }
            if f[3] == "unavailable" {
                result.append(TargetStatfs(uuid: f[0], kind: f[1], index: index, counts: nil))
                continue
            }
            let numbers = f[3...].compactMap { UInt64($0) }
            guard numbers.count == 6 else { throw .protocolError("bad statfs line '\(line)'") }
            result.append(TargetStatfs(uuid: f[0], kind: f[1], index: index,
                                       counts: (numbers[0], numbers[1], numbers[2], numbers[3], numbers[4], numbers[5])))
        }
        return result
    }

    func run() throws {
        let mounts: [LustreMounts.Mount]
        do throws(LustreError) {
            mounts = try LustreMounts.selected(by: path)
        } catch {
            throw fail("df", error)
        }
        var failure: ExitCode?
        for mount in mounts {
            do throws(LustreError) {
                let targets = try Self.parse(try Xattr.getText(mount.mountpoint, "lustre.statfs"))
                print(report(targets, mountpoint: mount.mountpoint), terminator: "")
            } catch {
                failure = fail("df", error.adding(context: mount.mountpoint))
            }
        }
        if let failure { throw failure }
    }

    /// Lustre's showdf: `UUF CSF CSF CSF RSF %s` with UUF `%-20s`, CSF `%11s`, RSF `%4s`.
    func report(_ targets: [TargetStatfs], mountpoint: String) -> String {
        let header = inodes ? ("Inodes", "IUsed", "IFree", "IUse%") : (human ? "bytes" : "1K-blocks", "Used", "Available", "Use%")
        var text = LayoutText.padRight("UUID", 20) + " " + LayoutText.pad(header.0, 11) + " " + LayoutText.pad(header.1, 11)
            + " " + LayoutText.pad(header.2, 11) + " " + LayoutText.pad(header.3, 4) + " Mounted on\n"
        var sum: (total: UInt64, used: UInt64, available: UInt64) = (0, 0, 0)
        for target in targets {
            let where_ = "\(mountpoint)[\(target.kind):\(target.index)]"
            guard let c = target.counts else {
                text += LayoutText.padRight(target.uuid, 20) + " : inactive device\n"
                continue
            }
            let (total, used, available): (UInt64, UInt64, UInt64)
            if inodes {
                (total, used, available) = (c.files, c.files &- c.filesFree, c.filesFree)
            } else {
                let unit: UInt64 = human ? 1 : 1024
                (total, used, available) = (c.blocks * c.blockSize / unit, (c.blocks &- c.free) * c.blockSize / unit,
                                            c.available * c.blockSize / unit)
            }
            text += line(target.uuid, total, used, available, where_)
            // Blocks add up over the OSTs, inodes over the MDTs, as Lustre sums them.
            if (inodes && target.kind == "MDT") || (!inodes && target.kind == "OST") {
                sum = (sum.total + total, sum.used + used, sum.available + available)
            }
        }
        text += "\n" + line("filesystem_summary:", sum.total, sum.used, sum.available, mountpoint) + "\n"
        return text
    }

    private func line(_ name: String, _ total: UInt64, _ used: UInt64, _ available: UInt64, _ where_: String) -> String {
        LayoutText.padRight(name, 20) + " " + LayoutText.pad(number(total), 11) + " " + LayoutText.pad(number(used), 11)
            + " " + LayoutText.pad(number(available), 11) + " " + LayoutText.pad("\(Self.ratio(used: used, available: available))%", 4)
            + " " + where_ + "\n"
    }

    /// Use% rounded up, as df(1) and Lustre's `obd_statfs_ratio`.
    static func ratio(used: UInt64, available: UInt64) -> Int {
        let whole = used + available
        guard whole > 0 else { return 0 }
        let ratio = Double(used) / Double(whole) * 100
        return ratio > Double(Int(ratio)) ? Int(ratio) + 1 : Int(ratio)
    }

    /// Plain count, or with -h bytes scaled to K, M, G, … with one decimal (`%8.1f%c`).
    private func number(_ value: UInt64) -> String {
        guard human else { return String(value) }
        let suffixes: [Character] = ["K", "M", "G", "T", "P", "E", "Z", "Y"]
        var scaled = Double(value)
        var i = 0
        let base = 1024.0
        while scaled >= base && i < suffixes.count {
            scaled /= base
            i += 1
        }
        guard i > 0 else { return String(value) }
        return LayoutText.pad(NumberText.fixed(scaled, 1), 8) + String(suffixes[i - 1])
    }
}
