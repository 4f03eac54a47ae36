import LibCFS
import ObdClass
import Synchronization

/// Every name of a directory, as far as this client knows them: a lookup of a name that is not
/// among them is answered `ENOENT` without an MDS round trip (Lustre answers such lookups from a
/// negative dentry under the parent's DLM lock). `open(O_CREAT)` of a new name, `mkdir` in an
/// untarred tree, `cp -r`: the kernel looks every new name up before it creates it.
///
/// A directory's names are known once this client made it (empty) or listed it whole from the
/// first page to the last, and only for `lifetime` after the request that showed them was sent:
/// without DLM locks, another client's change may go unseen that long (the mount's entry
/// timeout: the staleness the kernel's entry cache and statahead already allow). Meanwhile this
/// client's own changes keep the names current, and a directory whose names outlived their
/// lifetime but were in use is listed again in the background (`wantsRefresh`). Names are known
/// only to the credentials that learned them (another user may not search the directory:
/// `EACCES`, not `ENOENT`). The MDS still decides every change: a create after a stale absent
/// name fails with `EEXIST` there, and the directory is forgotten.
final class LLiteDirectoryNames: Sendable {
    /// Directories followed at most (past it the least recently learned go), and names of one.
    static let directoryLimit = 64
    static let nameLimit = 1 << 16
    /// Entries per `readdir` page when a directory is listed again for its names.
    static let refreshPage = 1024
    /// Lookups a directory's names must have answered, per page of a listing, to be listed again
    /// when they outlive their lifetime: a listing costs more than a few lookups, so only names
    /// that spare lookups (creates of new names) are worth it, not those of a directory whose
    /// names are looked up because they are there (`ls -l`, `rm -r`).
    static let answersPerRefreshPage = 8

    private struct Directory {
        var names: Set<String>
        var credentials: MDTCredentials
        /// When the request that showed these names was sent.
        var learned: UInt64
        /// A listing in progress: when its first page was asked for, what it brought so far, and
        /// this client's changes since (applied over the listing once it is whole: the pages
        /// may predate them).
        var listing: Listing?
        var refreshing = false
        /// Lookups answered absent since the names were learned.
        var answered = 0
    }

    private struct Listing {
        var started: UInt64
        var credentials: MDTCredentials
        var names: Set<String> = []
        var nextCookie: UInt64 = 0
        var changes: [(name: String, present: Bool)] = []
    }

    private let lifetime: UInt64
    private let directories = Mutex<[LustreFID: Directory]>([:])

    init(lifetime: Double) {
        self.lifetime = UInt64(max(0, lifetime) * 1e9)
    }

    /// Whether `name` is known not to be in `parent` for `credentials`.
    func isAbsent(parent: LustreFID, name: String, credentials: MDTCredentials) -> Bool {
        guard lifetime > 0 else { return false }
        let now = MonotonicClock.nanoseconds()
        return directories.withLock { table in
            guard let directory = table[parent], directory.credentials == credentials,
                  now &- directory.learned < lifetime, !directory.names.contains(name) else { return false }
            table[parent]!.answered += 1
            return true
        }
    }

    /// Whether `parent`'s names, known before but outlived, are worth listing again for
    /// `credentials`: not too many, no listing on its way, and they answered lookups enough
    /// (`answersPerRefreshPage`). Marks the refresh as started.
    func wantsRefresh(parent: LustreFID, credentials: MDTCredentials) -> Bool {
        guard lifetime > 0 else { return false }
        let now = MonotonicClock.nanoseconds()
        return directories.withLock { table in
            guard let directory = table[parent], directory.credentials == credentials,
                  now &- directory.learned >= lifetime, !directory.refreshing, directory.listing == nil,
                  directory.names.count <= Self.nameLimit / 4 else { return false }
            let pages = directory.names.count / Self.refreshPage + 1
            guard directory.answered >= pages * Self.answersPerRefreshPage else { return false }
            table[parent]!.refreshing = true
            return true
        }
    }

    /// A refresh started by `wantsRefresh` ended without a whole listing.
    func refreshFailed(parent: LustreFID) {
        directories.withLock { table in
            table[parent]?.refreshing = false
            table[parent]?.listing = nil
        }
    }

    /// `fid` was just made by this client, empty, with a request sent at `sent`.
    func made(_ fid: LustreFID, credentials: MDTCredentials, sent: UInt64) {
        guard lifetime > 0 else { return }
        directories.withLock { table in
            Self.makeRoom(&table, for: fid)
            table[fid] = Directory(names: [], credentials: credentials, learned: sent)
        }
    }

    /// `parent`'s first page is about to be asked for, at `sent`: this client's changes from now
    /// on are applied over the listing once it is whole. Called before the request leaves: a
    /// change the MDS made after it produced a page, but whose reply came back before that
    /// page's, would otherwise be lost (its name then answered `ENOENT` for a lifetime).
    func beginListing(parent: LustreFID, credentials: MDTCredentials, sent: UInt64) {
        guard lifetime > 0 else { return }
        directories.withLock { table in
            if table[parent] == nil {
                Self.makeRoom(&table, for: parent)
                table[parent] = Directory(names: [], credentials: credentials, learned: 0)
            }
            table[parent]!.listing = Listing(started: sent, credentials: credentials)
        }
    }

    /// A page of `parent`'s listing asked for from `cookie`: `names`, then `next` (the cookie
    /// after them), and whether it was the last page. A listing begun (`beginListing`) and read
    /// from cookie 0 to its end, page after page, makes `parent`'s names known as of its start.
    func listed(parent: LustreFID, cookie: UInt64, names: [String], next: UInt64, end: Bool,
                credentials: MDTCredentials) {
        guard lifetime > 0 else { return }
        // Sets are changed in place in the table: a copy taken out would be copied whole on change.
        directories.withLock { table in
            guard table[parent]?.listing?.nextCookie == cookie,
                  table[parent]?.listing?.credentials == credentials else { return }
            for name in names where name != "." && name != ".." { table[parent]!.listing!.names.insert(name) }
            table[parent]!.listing!.nextCookie = next
            guard table[parent]!.listing!.names.count <= Self.nameLimit else {
                table[parent] = nil
                return
            }
            guard end else { return }
            var listing = table[parent]!.listing!
            table[parent]!.listing = nil
            for change in listing.changes {
                if change.present { listing.names.insert(change.name) } else { listing.names.remove(change.name) }
            }
            table[parent] = Directory(names: listing.names, credentials: listing.credentials, learned: listing.started)
        }
    }

    /// This client made `name` in `parent` (the MDS said so).
    func added(_ name: String, to parent: LustreFID) {
        change(parent, name, present: true)
    }

    /// This client removed `name` from `parent` (the MDS said so).
    func removed(_ name: String, from parent: LustreFID) {
        change(parent, name, present: false)
    }

    /// What this client knew of `fid`'s names proved wrong, or `fid` is gone: forget them.
    func forget(_ fid: LustreFID) {
        _ = directories.withLock { $0.removeValue(forKey: fid) }
    }

    /// Names known, for tests: nil unless `parent`'s names are known now.
    func names(of parent: LustreFID) -> Set<String>? {
        let now = MonotonicClock.nanoseconds()
        return directories.withLock { table in
            guard let directory = table[parent], now &- directory.learned < lifetime else { return nil }
            return directory.names
        }
    }

    private func change(_ parent: LustreFID, _ name: String, present: Bool) {
        directories.withLock { table in
            guard table[parent] != nil else { return }
            if present { table[parent]!.names.insert(name) } else { table[parent]!.names.remove(name) }
            table[parent]!.listing?.changes.append((name, present))
            if table[parent]!.names.count > Self.nameLimit { table[parent] = nil }
        }
    }

    private static func makeRoom(_ table: inout [LustreFID: Directory], for fid: LustreFID) {
        guard table[fid] == nil, table.count >= directoryLimit else { return }
        let oldest = table.min { $0.value.learned < $1.value.learned }!.key
        table[oldest] = nil
    }
}
