#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LibCFS
import ObdClass
import Synchronization
import Testing
@testable import MDT

/// A test double of the LOD: hands out sequential object ids on `ostCount` OSTs and records
/// every call, so tests can see which objects were allocated, destroyed or noted in use.
final class RecordingAllocator: MDTObjectAllocator {
    struct Calls {
        var nextObjectID: UInt64 = 1
        var allocated: [LustreFID: [LayoutObject]] = [:]
        var destroyed: [LustreFID: [LayoutObject]] = [:]
        var inUse: [LayoutObject] = []
        var checkpoints = 0
        /// Objects replayed creates claimed.
        var claimed: [LayoutObject] = []
    }

    let ostCount: Int
    let calls = Mutex(Calls())
    /// Whether `claim` finds the objects free.
    let claimable = Mutex(true)

    init(ostCount: Int = 4) { self.ostCount = ostCount }

    func allocate(for fid: LustreFID, layout: LustreLayout) async throws(LustreError) -> LustreLayout {
        guard ostCount > 0 else { throw LustreError(errno: ENOSPC, "no OSTs") }
        let count = layout.stripeCount == LustreLayout.stripeCountAll ? ostCount : Int(layout.stripeCount)
        let first = layout.stripeOffset == LustreLayout.stripeOffsetAny ? 0 : Int(layout.stripeOffset)
        var result = layout
        result.fid = fid
        result.stripeCount = UInt16(count)
        result.objects = calls.withLock { calls in
            let objects = (0..<count).map { i -> LayoutObject in
                defer { calls.nextObjectID += 1 }
                return LayoutObject(ostIndex: UInt32((first + i) % ostCount), id: OSTObjectID(objectID: calls.nextObjectID))
            }
            calls.allocated[fid] = objects
            return objects
        }
        result.stripeOffset = UInt16(first)
        return result
    }

    func destroy(_ objects: [LayoutObject], of fid: LustreFID) async throws(LustreError) {
        calls.withLock { $0.destroyed[fid] = objects }
    }

    func noteInUse(_ objects: [LayoutObject]) { calls.withLock { $0.inUse += objects } }

    func claim(_ objects: [LayoutObject]) -> Bool {
        guard claimable.withLock({ $0 }) else { return false }
        calls.withLock { $0.claimed += objects }
        return true
    }

    func checkpoint() async throws(LustreError) { calls.withLock { $0.checkpoints += 1 } }

    func ostStatfs() async -> [(index: UInt32, statfs: ObdStatfs?)] { (0..<ostCount).map { (UInt32($0), nil) } }

    func destroyed(_ fid: LustreFID) -> [LayoutObject]? { calls.withLock { $0.destroyed[fid] } }
}

/// A scratch MDT target root on the ext4 disk (/tmp), removed at the end.
final class MDTScratch: Sendable {
    let path: String
    let allocator: RecordingAllocator
    let target = try! TargetName(fsname: "testfs", kind: .mdt, index: 0)

    init(ostCount: Int = 4) {
        var template = Array("/tmp/mdt-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(decoding: template.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        allocator = RecordingAllocator(ostCount: ostCount)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Opens the MDT; its root directory is made writable by everyone (0777) so tests can
    /// create as non-root users.
    func open(_ options: MDTDevice.Options = .init()) async throws -> MDTDevice {
        let mdt = try await MDTDevice.open(root: path, target: target, allocator: allocator, options: options)
        _ = try await mdt.setattr(mdt.rootFID, MDTSetattr(valid: .mode, mode: 0o777), credentials: .root)
        return mdt
    }
}

let user1 = MDTCredentials(uid: 1000, gid: 1000)
let user2 = MDTCredentials(uid: 2000, gid: 2000)

/// Expects `body` to fail with `errno`.
func expectErrno(_ errno: Int32, _ what: String = "", sourceLocation: SourceLocation = #_sourceLocation,
                 _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): expected \(LustreError(errno: errno)), it succeeded", sourceLocation: sourceLocation)
    } catch let error as LustreError {
        #expect(error.errno == errno, "\(what): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): unexpected \(error)", sourceLocation: sourceLocation)
    }
}

extension MDTDevice {
    @discardableResult
    func mkfile(_ parent: LustreFID, _ name: String, mode: UInt32 = 0o644, as credentials: MDTCredentials = .root,
                layout: LustreLayout? = nil) async throws -> MDTAttributes {
        try await create(parent: parent, name: name, kind: .file, mode: mode, credentials: credentials, layout: layout,
                         exclusive: true).attributes
    }

    @discardableResult
    func mkdir(_ parent: LustreFID, _ name: String, mode: UInt32 = 0o755,
               as credentials: MDTCredentials = .root) async throws -> MDTAttributes {
        try await create(parent: parent, name: name, kind: .directory, mode: mode, credentials: credentials, layout: nil,
                         exclusive: true).attributes
    }

    /// Every name of a directory, by readdir.
    func names(_ fid: LustreFID, pageSize: Int = 1000) async throws -> [String] {
        var names: [String] = []
        var cookie: UInt64 = 0
        while true {
            let page = try await readdir(fid, cookie: cookie, maxEntries: pageSize, credentials: .root)
            names += page.entries.map(\.name)
            if let last = page.entries.last { cookie = last.cookie }
            if page.end { return names }
        }
    }
}

/// Every name under the root with its FID and type, for comparing trees.
func snapshot(_ mdt: MDTDevice) async throws -> [String: LustreFID] {
    var result: [String: LustreFID] = [:]
    var stack: [(LustreFID, String)] = [(mdt.rootFID, "")]
    while let (fid, path) = stack.popLast() {
        var cookie: UInt64 = 0
        while true {
            let page = try await mdt.readdir(fid, cookie: cookie, maxEntries: 100, credentials: .root)
            for entry in page.entries {
                let child = path.isEmpty ? entry.name : path + "/" + entry.name
                result[child] = entry.fid
                if entry.type == 4 { stack.append((entry.fid, child)) }
            }
            if let last = page.entries.last { cookie = last.cookie }
            if page.end { break }
        }
    }
    return result
}
