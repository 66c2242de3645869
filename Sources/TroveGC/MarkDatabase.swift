import Foundation
import TroveContent
import TroveManifest

/// The mark set of one gc (or verify) run, on disk: a scratch SQLite database, so memory stays
/// bounded however many chunks the store holds. Marks only grow during a run.
final class MarkDatabase: @unchecked Sendable {
    let path: String
    let db: SQLiteDatabase
    private let insManifest, findManifest, insPack, findPack, insManifestPack, insLive, insDict, findDict: SQLiteStatement
    private let listedPack, listedManifest, findListedPack, findListedManifest: SQLiteStatement

    init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("mark-\(UUID().uuidString).sqlite").path
        db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute("""
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768; PRAGMA temp_store = FILE;
            CREATE TABLE manifests(id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, size INTEGER, modified INTEGER);
            CREATE TABLE packs(id INTEGER PRIMARY KEY, digest BLOB NOT NULL UNIQUE, size INTEGER, modified INTEGER);
            CREATE TABLE manifest_packs(pack_id INTEGER NOT NULL, manifest_id INTEGER NOT NULL,
                                        PRIMARY KEY (pack_id, manifest_id)) WITHOUT ROWID;
            CREATE TABLE live(pack_id INTEGER NOT NULL, offset INTEGER NOT NULL, size INTEGER NOT NULL,
                              PRIMARY KEY (pack_id, offset)) WITHOUT ROWID;
            CREATE TABLE dicts(digest BLOB PRIMARY KEY) WITHOUT ROWID;
            CREATE TABLE candidates(key TEXT PRIMARY KEY, kind INTEGER NOT NULL, digest BLOB NOT NULL, size INTEGER NOT NULL) WITHOUT ROWID;
            BEGIN;
            """)
        insManifest = try db.prepare("INSERT OR IGNORE INTO manifests(digest) VALUES (?)")
        findManifest = try db.prepare("SELECT id FROM manifests WHERE digest = ?")
        insPack = try db.prepare("INSERT OR IGNORE INTO packs(digest) VALUES (?)")
        findPack = try db.prepare("SELECT id FROM packs WHERE digest = ?")
        insManifestPack = try db.prepare("INSERT OR IGNORE INTO manifest_packs(pack_id, manifest_id) VALUES (?,?)")
        insLive = try db.prepare("INSERT OR IGNORE INTO live(pack_id, offset, size) VALUES (?,?,?)")
        insDict = try db.prepare("INSERT OR IGNORE INTO dicts(digest) VALUES (?)")
        findDict = try db.prepare("SELECT 1 FROM dicts WHERE digest = ?")
        listedPack = try db.prepare("UPDATE packs SET size = ?, modified = ? WHERE digest = ?")
        listedManifest = try db.prepare("UPDATE manifests SET size = ?, modified = ? WHERE digest = ?")
        findListedPack = try db.prepare("SELECT id, size, modified FROM packs WHERE digest = ?")
        findListedManifest = try db.prepare("SELECT id, size, modified FROM manifests WHERE digest = ?")
    }

    deinit { unlink(path) }

    /// Commits what is marked so far (the scratch db runs one long transaction otherwise).
    func checkpoint() throws { try db.execute("COMMIT; BEGIN;") }

    private func id(_ s: SQLiteStatement, _ d: Digest) throws -> Int? {
        defer { s.reset() }
        s.bind(1, d)
        return try s.step() ? s.int(0) : nil
    }

    func isMarked(manifest d: Digest) throws -> Bool { try id(findManifest, d) != nil }
    func packID(_ d: Digest) throws -> Int? { try id(findPack, d) }
    func isMarked(pack d: Digest) throws -> Bool { try id(findPack, d) != nil }
    func isMarked(dictionary d: Digest) throws -> Bool { try id(findDict, d) != nil }

    /// Marks a manifest and everything its summary names. False when it was already marked.
    @discardableResult
    func mark(manifest d: Digest, _ s: ManifestSummary) throws -> Bool {
        if try id(findManifest, d) != nil { return false }
        insManifest.bind(1, d)
        try insManifest.run()
        guard let mid = try id(findManifest, d) else { throw GCError.aborted("mark database lost a manifest row") }
        var packIDs: [Int] = []
        packIDs.reserveCapacity(s.packs.count)
        for p in s.packs {
            insPack.bind(1, p)
            try insPack.run()
            guard let pid = try id(findPack, p) else { throw GCError.aborted("mark database lost a pack row") }
            packIDs.append(pid)
            insManifestPack.bind(1, pid)
            insManifestPack.bind(2, mid)
            try insManifestPack.run()
        }
        for c in s.chunks {
            insLive.bind(1, packIDs[Int(c.pack)])
            insLive.bind(2, Int(c.offset))
            insLive.bind(3, Int(c.size))
            try insLive.run()
        }
        for dict in s.dictionaries {
            insDict.bind(1, dict)
            try insDict.run()
        }
        return true
    }

    var markedManifestCount: Int { (try? scalar("SELECT count(*) FROM manifests")) ?? 0 }

    func scalar(_ sql: String) throws -> Int {
        let s = try db.prepare(sql)
        _ = try s.step()
        return s.int(0)
    }

    // MARK: Candidates

    enum Kind: Int, Sendable { case manifest = 0, pack = 1, dictionary = 2 }

    func addCandidate(key: String, kind: Kind, digest: Digest, size: Int) throws {
        let s = try db.prepare("INSERT OR IGNORE INTO candidates(key, kind, digest, size) VALUES (?,?,?,?)")
        s.bind(1, key)
        s.bind(2, kind.rawValue)
        s.bind(3, digest)
        s.bind(4, size)
        try s.run()
    }

    struct Candidate: Sendable {
        var key: String
        var kind: Kind
        var digest: Digest
        var size: Int
    }

    /// Candidates of one kind in key order, from after `key` (paged so memory stays bounded).
    func candidates(kind: Kind, after key: String, limit: Int) throws -> [Candidate] {
        let s = try db.prepare("SELECT key, digest, size FROM candidates WHERE kind = ? AND key > ? ORDER BY key LIMIT ?")
        s.bind(1, kind.rawValue)
        s.bind(2, key)
        s.bind(3, limit)
        var out: [Candidate] = []
        while try s.step() { out.append(Candidate(key: s.string(0), kind: kind, digest: try s.digest(1), size: s.int(2))) }
        return out
    }

    // MARK: What the listing showed of marked objects

    /// A marked pack or manifest as the listing showed it (size and modified nil when it did not).
    struct Listed: Sendable {
        var id: Int
        var size: Int?
        var modified: Date?
    }

    /// Records the size and last modification of a marked object (`kind` `.pack` or `.manifest`).
    func recordListed(_ kind: Kind, _ d: Digest, size: Int, modified: Date?) throws {
        let s: SQLiteStatement
        switch kind {
        case .pack: s = listedPack
        case .manifest: s = listedManifest
        case .dictionary: return
        }
        defer { s.reset() }
        s.bind(1, size)
        s.bind(2, modified.map { Int(($0.timeIntervalSince1970 * 1000).rounded(.up)) })   // up: never older than it is
        s.bind(3, d)
        try s.run()
    }

    /// A marked pack or manifest with what the listing recorded of it; nil when it is not marked.
    func listed(_ kind: Kind, _ d: Digest) throws -> Listed? {
        let s: SQLiteStatement
        switch kind {
        case .pack: s = findListedPack
        case .manifest: s = findListedManifest
        case .dictionary: return nil
        }
        defer { s.reset() }
        s.bind(1, d)
        guard try s.step() else { return nil }
        return Listed(id: s.int(0), size: s.optionalInt(1),
                      modified: s.optionalInt(2).map { Date(timeIntervalSince1970: Double($0) / 1000) })
    }

    /// Every marked pack with its listed size (nil when the listing did not show it) and live totals.
    func packLiveness() throws -> [(digest: Digest, id: Int, size: Int?, liveChunks: Int, liveBytes: Int)] {
        let s = try db.prepare("""
            SELECT p.digest, p.id, p.size, count(l.offset), coalesce(sum(l.size), 0)
            FROM packs p LEFT JOIN live l ON l.pack_id = p.id GROUP BY p.id ORDER BY p.digest
            """)
        var out: [(Digest, Int, Int?, Int, Int)] = []
        while try s.step() { out.append((try s.digest(0), s.int(1), s.optionalInt(2), s.int(3), s.int(4))) }
        return out
    }

    /// Live (offset, size) pairs of one pack, in offset order.
    func liveEntries(packID: Int) throws -> [(offset: Int, size: Int)] {
        let s = try db.prepare("SELECT offset, size FROM live WHERE pack_id = ? ORDER BY offset")
        s.bind(1, packID)
        var out: [(Int, Int)] = []
        while try s.step() { out.append((s.int(0), s.int(1))) }
        return out
    }

    /// Marked manifests that name any of `packIDs`.
    func manifests(usingPacks packIDs: [Int]) throws -> [Digest] {
        guard !packIDs.isEmpty else { return [] }
        let s = try db.prepare("""
            SELECT DISTINCT m.digest FROM manifest_packs mp JOIN manifests m ON m.id = mp.manifest_id
            WHERE mp.pack_id IN (\(packIDs.map(String.init).joined(separator: ","))) ORDER BY m.digest
            """)
        var out: [Digest] = []
        while try s.step() { out.append(try s.digest(0)) }
        return out
    }

    func manifestIDs(usingPack packID: Int) throws -> [Int] {
        let s = try db.prepare("SELECT manifest_id FROM manifest_packs WHERE pack_id = ?")
        s.bind(1, packID)
        var out: [Int] = []
        while try s.step() { out.append(s.int(0)) }
        return out
    }

    func manifestDigest(id: Int) throws -> Digest? {
        let s = try db.prepare("SELECT digest FROM manifests WHERE id = ?")
        s.bind(1, id)
        return try s.step() ? try s.digest(0) : nil
    }

    func allDictionaries() throws -> [Digest] {
        let s = try db.prepare("SELECT digest FROM dicts ORDER BY digest")
        var out: [Digest] = []
        while try s.step() { out.append(try s.digest(0)) }
        return out
    }
}
