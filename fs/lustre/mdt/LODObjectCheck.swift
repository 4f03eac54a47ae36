import Glibc
import LibCFS
import ObdClass

/// Offline check of the objects behind layouts (for `lfsck`): with the MDT and OSTs stopped,
/// compares what the layouts name with what the OSTs hold.
public enum LODObjectCheck {
    /// Reports, one line each:
    /// - `missing`: an object a layout names that is not on its OST
    ///   (`O/<seq>/d<oid % 32>/<oid>` under the OST root), or whose OST root was not given;
    /// - `orphan`: an OST object no layout names, not waiting in the destroy log, at or below
    ///   `lov_objid` for that OST (objects above it are free precreated objects, not orphans)
    ///   and not in `lov_objid_unlogged` (ids the next start reconciles: claimable by the
    ///   replays of clients for a while, then destroyed).
    ///
    /// `ostRoots` maps OST index to target root; `layouts` are the files' instantiated layouts.
    /// Errors: a damaged `lov_objid` or destroy log (EUCLEAN), unreadable directories.
    public static func check(mdtRoot: String, ostRoots: [UInt32: String],
                             layouts: [LustreFID: LustreLayout]) throws(LustreError) -> [String] {
        let lovObjid = try LODObjectIDFile.read(root: mdtRoot)
        let pending = try OSPSyncLog.liveRecords(directory: "\(mdtRoot)/\(LODDevice.syncLogDirectory)")
        let unlogged = try LODUnloggedObjectsFile.read(root: mdtRoot)
        var named: [UInt32: Set<OSTObjectID>] = [:]
        var problems: [String] = []
        for fid in layouts.keys.sorted() {
            for (stripe, object) in layouts[fid]!.objects.enumerated() {
                named[object.ostIndex, default: []].insert(object.id)
                guard let root = ostRoots[object.ostIndex] else {
                    problems.append("missing object \(object.id) on OST index \(object.ostIndex) (no such OST given) "
                                    + "for \(fid) stripe \(stripe)")
                    continue
                }
                var st = stat()
                if stat("\(root)/\(object.id.path)", &st) != 0 {
                    problems.append("missing object \(object.id) on OST index \(object.ostIndex) for \(fid) stripe \(stripe)")
                }
            }
        }
        var waiting: [UInt32: Set<OSTObjectID>] = [:]
        for record in pending { waiting[record.ostIndex, default: []].insert(record.object) }
        for index in ostRoots.keys.sorted() {
            let limit = Int(index) < lovObjid.count ? lovObjid[Int(index)] : 0
            for object in try objects(under: ostRoots[index]!) where object.objectID <= limit {
                if named[index]?.contains(object) == true || waiting[index]?.contains(object) == true { continue }
                if unlogged[index]?.contains(where: { $0.contains(object.objectID) }) == true { continue }
                problems.append("orphan object \(object) on OST index \(index): no layout names it (lov_objid \(limit))")
            }
        }
        return problems
    }

    /// Every object under an OST root, sorted.
    private static func objects(under root: String) throws(LustreError) -> [OSTObjectID] {
        var found: [OSTObjectID] = []
        for sequenceName in try entries("\(root)/O") {
            guard let sequence = UInt64(sequenceName) else { continue }
            for bucket in try entries("\(root)/O/\(sequenceName)") where bucket.hasPrefix("d") {
                guard let slot = UInt64(bucket.dropFirst()), slot < 32 else { continue }
                for name in try entries("\(root)/O/\(sequenceName)/\(bucket)") {
                    if let oid = UInt64(name), oid % 32 == slot { found.append(OSTObjectID(sequence: sequence, objectID: oid)) }
                }
            }
        }
        return found.sorted()
    }

    private static func entries(_ path: String) throws(LustreError) -> [String] {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw LustreError.fromErrno("opendir \(path)")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
