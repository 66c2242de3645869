import Foundation
import TroveContent

/// A published build's manifest, opened read-only from a local SQLite file.
///
/// Manifests are immutable (named by their digest), so an open `Manifest` can be cached and shared
/// freely; a lock serialises use of the single SQLite connection.
public final class Manifest: @unchecked Sendable {
    public let digest: Digest
    public let metadata: ManifestMetadata
    private let db: SQLiteDatabase
    private let lock = NSLock()
    private let byPath, chunksOf, children: SQLiteStatement

    public init(path: String, digest: Digest) throws {
        self.digest = digest
        db = try SQLiteDatabase(path: path, mode: .readOnly)
        var kv: [String: String] = [:]
        do {
            let m = try db.prepare("SELECT key, value FROM meta")
            while try m.step() { kv[m.string(0)] = m.string(1) }
        } catch let e as SQLiteError {
            throw ManifestError.malformed("\(digest.short): \(e.message)")
        }
        metadata = try ManifestMetadata(keyValues: kv)
        byPath = try db.prepare("SELECT id, path, kind, size, mode, content_type, digest, link_target FROM files WHERE path = ?")
        chunksOf = try db.prepare("""
            SELECT c.digest, p.digest, c.pack_offset, c.stored_size, c.raw_size, c.codec, d.digest
            FROM file_chunks fc JOIN chunks c ON c.id = fc.chunk_id JOIN packs p ON p.id = c.pack_id
            LEFT JOIN dictionaries d ON d.id = c.dictionary_id WHERE fc.file_id = ? ORDER BY fc.seq
            """)
        children = try db.prepare("SELECT id, path, kind, size, mode, content_type, digest, link_target FROM files WHERE path > ? AND path < ? ORDER BY path")
    }

    /// What SQLite's `PRAGMA integrity_check` finds wrong with the file (empty when sound). Manifests
    /// are laid out by Trove's own writer (`SQLiteFileBuilder`), so `trove verify --deep` asks SQLite.
    public func integrityProblems() throws -> [String] {
        try lock.withLock {
            let check = try db.prepare("PRAGMA integrity_check")
            var problems: [String] = []
            while try check.step() {
                let line = check.string(0)
                if line != "ok" { problems.append(line) }
            }
            return problems
        }
    }

    /// The record for one logical path, or nil.
    public func file(at path: String) throws -> FileRecord? {
        try lock.withLock {
            defer { byPath.reset() }
            byPath.bind(1, path)
            return try byPath.step() ? try Manifest.record(byPath) : nil
        }
    }

    /// The chunks of a file, in order.
    public func chunks(of file: FileRecord) throws -> [ChunkRef] {
        try lock.withLock {
            defer { chunksOf.reset() }
            chunksOf.bind(1, file.id)
            var out: [ChunkRef] = []
            while try chunksOf.step() {
                guard let codec = Codec(rawValue: UInt8(chunksOf.int(5))) else { throw ManifestError.malformed("unknown codec") }
                out.append(ChunkRef(digest: try chunksOf.digest(0), location: ChunkLocation(
                    pack: try chunksOf.digest(1), offset: chunksOf.int(2), storedSize: chunksOf.int(3),
                    rawSize: chunksOf.int(4), codec: codec, dictionary: try chunksOf.optionalDigest(6))))
            }
            return out
        }
    }

    /// Every entry under `prefix` (a directory path without trailing slash, or "" for all), in path order.
    /// With `recursive: false`, only direct children.
    public func list(under prefix: String = "", recursive: Bool = true) throws -> [FileRecord] {
        try lock.withLock {
            defer { children.reset() }
            let lo = prefix.isEmpty ? "" : prefix + "/"
            let hi = prefix.isEmpty ? "\u{10FFFF}" : prefix + "0" // "0" sorts right after "/"
            children.bind(1, lo)
            children.bind(2, hi)
            var out: [FileRecord] = []
            while try children.step() {
                let r = try Manifest.record(children)
                if !recursive && r.path.dropFirst(lo.count).contains("/") { continue }
                out.append(r)
            }
            return out
        }
    }

    /// Every distinct chunk this build references with its location (the dedup index and gc read this).
    public func forEachChunk(_ body: (Digest, ChunkLocation) throws -> Void) throws {
        try lock.withLock {
            // Packs and dictionaries are few: read them once instead of joining them to every chunk row.
            var packs: [Int: Digest] = [:], dicts: [Int: Digest] = [:]
            let p = try db.prepare("SELECT id, digest FROM packs")
            while try p.step() { packs[p.int(0)] = try p.digest(1) }
            let d = try db.prepare("SELECT id, digest FROM dictionaries")
            while try d.step() { dicts[d.int(0)] = try d.digest(1) }
            let s = try db.prepare("SELECT digest, pack_id, pack_offset, stored_size, raw_size, codec, dictionary_id FROM chunks")
            while try s.step() {
                guard let codec = Codec(rawValue: UInt8(s.int(5))) else { throw ManifestError.malformed("unknown codec") }
                // As the join did: a chunk whose pack row is missing is not offered as stored.
                guard let pack = packs[s.int(1)] else { continue }
                try body(try s.digest(0), ChunkLocation(pack: pack, offset: s.int(2), storedSize: s.int(3), rawSize: s.int(4),
                                                        codec: codec, dictionary: s.optionalInt(6).flatMap { dicts[$0] }))
            }
        }
    }

    /// The packs and dictionaries this build references.
    public func referencedObjects() throws -> (packs: [Digest], dictionaries: [Digest]) {
        try lock.withLock {
            var packs: [Digest] = [], dicts: [Digest] = []
            let p = try db.prepare("SELECT digest FROM packs ORDER BY id")
            while try p.step() { packs.append(try p.digest(0)) }
            let d = try db.prepare("SELECT digest FROM dictionaries ORDER BY id")
            while try d.step() { dicts.append(try d.digest(0)) }
            return (packs, dicts)
        }
    }

    /// Stored bytes of the distinct chunks this build references.
    public func storedBytes() throws -> Int {
        try lock.withLock {
            let s = try db.prepare("SELECT coalesce(sum(stored_size), 0) FROM chunks")
            _ = try s.step()
            return s.int(0)
        }
    }

    static func record(_ s: SQLiteStatement) throws -> FileRecord {
        guard let kind = EntryKind(rawValue: s.string(2)) else { throw ManifestError.malformed("unknown entry kind \(s.string(2))") }
        return FileRecord(path: s.string(1), kind: kind, size: s.int(3), mode: s.int(4), contentType: s.optionalString(5),
                          digest: try s.optionalDigest(6), linkTarget: s.optionalString(7), id: s.int(0))
    }
}
