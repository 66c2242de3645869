import Foundation
import Synchronization
import TroveContent

/// A published build's manifest, opened read-only from a local SQLite file.
///
/// Manifests are immutable (named by their digest), so an open `Manifest` can be cached and shared
/// freely; a lock serialises use of the single SQLite connection.
public final class Manifest: @unchecked Sendable {
    public let digest: Digest
    public let metadata: ManifestMetadata
    private let db: SQLiteDatabase
    private let lock = Mutex(())
    private let byPath, chunksOf, children: SQLiteStatement

    public init(path: String, digest: Digest) throws {
        self.digest = digest
        do {
            (db, metadata, byPath, chunksOf, children) = try Manifest.open(path)
        } catch let e as SQLiteError {
            throw ManifestError.malformed("manifest \(digest.hex): \(e.message)")
        } catch ManifestError.malformed(let m) {
            throw ManifestError.malformed("manifest \(digest.hex): \(m)")
        }
    }

    /// Opens the file, reads and checks the metadata, prepares the statements every read uses.
    private static func open(_ path: String) throws -> (SQLiteDatabase, ManifestMetadata, SQLiteStatement, SQLiteStatement, SQLiteStatement) {
        let db = try SQLiteDatabase(path: path, mode: .readOnly)
        var kv: [String: String] = [:]
        let m = try db.prepare("SELECT key, value FROM meta")
        while try m.step() { kv[try m.exactString(0)] = try m.exactString(1) }
        let metadata = try ManifestMetadata(keyValues: kv)
        do { try metadata.chunker.validate() } catch { throw ManifestError.malformed(error.message) }
        // Format 1 has no main_digest column: it reads as NULL.
        let columns = "id, path, kind, size, mode, content_type, digest, link_target, "
            + (metadata.hasMainDigestColumn ? "main_digest" : "NULL")
        let byPath = try db.prepare("SELECT \(columns) FROM files WHERE path = ?")
        // Left joins: a row naming a chunk, pack or dictionary that does not exist is an error, not a
        // chunk silently left out of the file.
        let chunksOf = try db.prepare("""
            SELECT c.digest, p.digest, c.pack_offset, c.stored_size, c.raw_size, c.codec, d.digest, fc.file_offset,
                   fc.chunk_id, c.dictionary_id
            FROM file_chunks fc LEFT JOIN chunks c ON c.id = fc.chunk_id LEFT JOIN packs p ON p.id = c.pack_id
            LEFT JOIN dictionaries d ON d.id = c.dictionary_id WHERE fc.file_id = ? ORDER BY fc.seq
            """)
        let children = try db.prepare("SELECT \(columns) FROM files WHERE path > ? AND path < ? ORDER BY path")
        return (db, metadata, byPath, chunksOf, children)
    }

    /// Runs `body` holding the connection's lock; a SQLite error (a damaged file: "database disk image
    /// is malformed") becomes a `ManifestError` naming the manifest, like any other bad manifest.
    private func locked<T: Sendable>(_ body: () throws -> T) throws -> T {
        try lock.withLock { _ in
            do { return try body() } catch let e as SQLiteError {
                throw ManifestError.malformed("manifest \(digest.hex): \(e.message)")
            }
        }
    }

    /// What SQLite's `PRAGMA integrity_check` finds wrong with the file (empty when sound). Manifests
    /// are laid out by Trove's own writer (`SQLiteFileBuilder`), so `trove verify --deep` asks SQLite.
    public func integrityProblems() throws -> [String] {
        try locked {
            let check = try db.prepare("PRAGMA integrity_check")
            var problems: [String] = []
            while try check.step() {
                let line = check.string(0)
                if line != "ok" { problems.append(line) }
            }
            return problems
        }
    }

    /// The record for one logical path, or nil. Every record a manifest hands out has passed `check`.
    public func file(at path: String) throws -> FileRecord? {
        try locked {
            defer { byPath.reset() }
            byPath.bind(1, path)
            return try byPath.step() ? try record(byPath) : nil
        }
    }

    /// The chunks of a file, in order, checked against the file before any byte is read: every row's
    /// location in range (`check(chunk:)`), offsets contiguous, sizes summing to the file's size and
    /// the chunk digests to the file's digest. Chunks are verified against their digests as they are
    /// read (`ChunkCodec.decode`), so a file assembled from this list is the file the manifest names,
    /// end to end, on every read path (cat, export, serve, verify).
    public func chunks(of file: FileRecord) throws -> [ChunkRef] {
        func bad(_ why: String) -> ManifestError {
            .malformed("manifest \(digest.hex): file \(file.path.debugDescription): \(why)")
        }
        let out: [ChunkRef] = try locked {
            defer { chunksOf.reset() }
            chunksOf.bind(1, file.id)
            var out: [ChunkRef] = []
            var end = 0
            while try chunksOf.step() {
                if chunksOf.isNull(0) { throw bad("names chunk row \(chunksOf.int(8)), which does not exist") }
                if chunksOf.isNull(1) { throw bad("a chunk's pack row does not exist") }
                if !chunksOf.isNull(9) && chunksOf.isNull(6) { throw bad("a chunk's dictionary row does not exist") }
                let raw = chunksOf.int(5)
                guard raw >= 0, raw <= 255, let codec = Codec(rawValue: UInt8(raw)) else { throw bad("unknown codec \(raw)") }
                let c = ChunkRef(digest: try chunksOf.digest(0), location: ChunkLocation(
                    pack: try chunksOf.digest(1), offset: chunksOf.int(2), storedSize: chunksOf.int(3),
                    rawSize: chunksOf.int(4), codec: codec, dictionary: try chunksOf.optionalDigest(6)))
                try check(chunk: c.digest, c.location)
                guard chunksOf.int(7) == end else { throw bad("chunk \(out.count) at file offset \(chunksOf.int(7)), expected \(end)") }
                end += c.location.rawSize
                guard end <= file.size else { throw bad("chunks hold more than its \(file.size) bytes") }
                out.append(c)
            }
            return out
        }
        let total = out.reduce(0) { $0 + $1.location.rawSize }
        guard total == file.size else { throw bad("chunks hold \(total) bytes, the file \(file.size)") }
        if let d = file.digest, Digest.file(chunks: out.map(\.digest)) != d {
            throw bad("chunk list does not hash to the file's digest \(d.short)")
        }
        return out
    }

    /// Every entry under `prefix` (a directory path without trailing slash, or "" for all), in path order.
    /// With `recursive: false`, only direct children.
    public func list(under prefix: String = "", recursive: Bool = true) throws -> [FileRecord] {
        try locked {
            defer { children.reset() }
            let lo = prefix.isEmpty ? "" : prefix + "/"
            let hi = prefix.isEmpty ? "\u{10FFFF}" : prefix + "0" // "0" sorts right after "/"
            children.bind(1, lo)
            children.bind(2, hi)
            var out: [FileRecord] = []
            while try children.step() {
                let r = try record(children)
                if !recursive && r.path.dropFirst(lo.count).contains("/") { continue }
                out.append(r)
            }
            return out
        }
    }

    /// Every distinct chunk this build references with its location (the dedup index and gc read this).
    public func forEachChunk(_ body: (Digest, ChunkLocation) throws -> Void) throws {
        try locked {
            // Packs and dictionaries are few: read them once instead of joining them to every chunk row.
            var packs: [Int: Digest] = [:], dicts: [Int: Digest] = [:]
            let p = try db.prepare("SELECT id, digest FROM packs")
            while try p.step() { packs[p.int(0)] = try p.digest(1) }
            let d = try db.prepare("SELECT id, digest FROM dictionaries")
            while try d.step() { dicts[d.int(0)] = try d.digest(1) }
            let s = try db.prepare("SELECT digest, pack_id, pack_offset, stored_size, raw_size, codec, dictionary_id FROM chunks")
            while try s.step() {
                let raw = s.int(5)
                guard raw >= 0, raw <= 255, let codec = Codec(rawValue: UInt8(raw)) else {
                    throw ManifestError.malformed("manifest \(digest.hex): unknown codec \(raw)")
                }
                // As the join did: a chunk whose pack row is missing is not offered as stored.
                guard let pack = packs[s.int(1)] else { continue }
                let d = try s.digest(0)
                let l = ChunkLocation(pack: pack, offset: s.int(2), storedSize: s.int(3), rawSize: s.int(4),
                                      codec: codec, dictionary: s.optionalInt(6).flatMap { dicts[$0] })
                try check(chunk: d, l)
                try body(d, l)
            }
        }
    }

    /// The distinct chunks this build stores in `pack` at offsets `from..<to`, by offset, each checked
    /// like every other location (serve's read-ahead of the pack region a request touched).
    public func chunks(inPack pack: Digest, from: Int, to: Int) throws -> [ChunkRef] {
        try locked {
            let s = try db.prepare("""
                SELECT c.digest, c.pack_offset, c.stored_size, c.raw_size, c.codec, d.digest, c.dictionary_id
                FROM chunks c JOIN packs p ON p.id = c.pack_id LEFT JOIN dictionaries d ON d.id = c.dictionary_id
                WHERE p.digest = ? AND c.pack_offset >= ? AND c.pack_offset < ? ORDER BY c.pack_offset
                """)
            s.bind(1, pack)
            s.bind(2, from)
            s.bind(3, to)
            var out: [ChunkRef] = []
            while try s.step() {
                let raw = s.int(4)
                guard raw >= 0, raw <= 255, let codec = Codec(rawValue: UInt8(raw)) else {
                    throw ManifestError.malformed("manifest \(digest.hex): unknown codec \(raw)")
                }
                if !s.isNull(6) && s.isNull(5) { throw ManifestError.malformed("manifest \(digest.hex): a chunk's dictionary row does not exist") }
                let c = ChunkRef(digest: try s.digest(0), location: ChunkLocation(
                    pack: pack, offset: s.int(1), storedSize: s.int(2), rawSize: s.int(3), codec: codec,
                    dictionary: try s.optionalDigest(5)))
                try check(chunk: c.digest, c.location)
                out.append(c)
            }
            return out
        }
    }

    /// The packs and dictionaries this build references.
    public func referencedObjects() throws -> (packs: [Digest], dictionaries: [Digest]) {
        try locked {
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
        try locked {
            let s = try db.prepare("SELECT coalesce(sum(stored_size), 0) FROM chunks")
            _ = try s.step()
            return s.int(0)
        }
    }

    /// A `files` row, checked (`check(_:)`) before anyone sees it.
    func record(_ s: SQLiteStatement) throws -> FileRecord {
        let kind = try s.exactString(2)
        guard let k = EntryKind(rawValue: kind) else {
            throw ManifestError.malformed("manifest \(digest.hex): files row \(s.int(0)): unknown entry kind \(kind.debugDescription)")
        }
        let r: FileRecord
        do {
            r = FileRecord(path: try s.exactString(1), kind: k, size: s.int(3), mode: s.int(4), contentType: try s.optionalExactString(5),
                           digest: try s.optionalDigest(6), linkTarget: try s.optionalExactString(7), id: s.int(0),
                           mainContentDigest: try s.optionalDigest(8))
        } catch let e as SQLiteError {
            throw ManifestError.malformed("manifest \(digest.hex): files row \(s.int(0)): \(e.message)")
        }
        try check(r)
        return r
    }
}
