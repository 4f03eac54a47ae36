import ArgumentParser
import LustreAdmin
import ObdClass

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

/// `lctl dl`: the obd devices of every daemon on this node, one Lustre row each.
struct DeviceList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dl",
        abstract: "List the obd devices of this node's Lustre daemons (index, status, type, name, uuid, refcount).")

    func run() async throws {
        let session = AdminSession(command: "dl")
        var index = 0
        var failed = false
        for answer in try session.askAll(.request("dl")) {
            guard answer.reply.status == 0 else {
                session.report(answer.reply, what: answer.daemon)
                failed = true
                continue
            }
            let fields = answer.reply.fields
            guard fields.count % 6 == 0 else {
                fputs("error: dl: \(answer.daemon) sent \(fields.count) fields, not rows of 6\n", stderr)
                failed = true
                continue
            }
            // Each daemon numbers its own devices from 0; the node's list is one sequence, as the
            // kernel's obd_devs array would be.
            for row in stride(from: 0, to: fields.count, by: 6) {
                let entry = ObdDeviceEntry(index: index, status: fields[row + 1], type: fields[row + 2],
                                           name: fields[row + 3], uuid: fields[row + 4],
                                           refcount: Int(fields[row + 5]) ?? 0)
                print(entry.line)
                index += 1
            }
        }
        if failed { throw ExitCode(1) }
    }
}
