import ObdClass
import Synchronization

/// The FIDs the create phase made, by thread and file index, for the phases after it; nil
/// where a create failed, so later phases skip that file.
final class FIDTable: Sendable {
    private let files: Int
    private let slots: Mutex<[LustreFID?]>

    init(threads: Int, files: Int) {
        self.files = files
        self.slots = Mutex([LustreFID?](repeating: nil, count: threads * files))
    }

    func set(_ fid: LustreFID, thread: Int, index: Int) {
        slots.withLock { $0[thread * files + index] = fid }
    }

    func get(thread: Int, index: Int) -> LustreFID? {
        slots.withLock { $0[thread * files + index] }
    }
}
