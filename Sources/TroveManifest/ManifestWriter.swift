import CSQLite
import Foundation
import TroveContent

/// Writes one build's manifest as a new SQLite file, in one transaction.
///
/// Deterministic: the same entries added in the same order with the same metadata produce the same
/// bytes (files are expected in path order; chunk, pack and dictionary rows are numbered by first use).
/// The rows are laid out by `ManifestRows` (plain Swift) and inserted by `ManifestSink` (SQLite), so
/// `write(entries:…)` can run the two on different threads and still insert exactly the same batches.
public final class ManifestWriter {
    public let path: String
    private var rows = ManifestRows()
    private let sink: ManifestSink

    /// Creates the database at `path` (which must not exist) and opens the write transaction.
    public init(path: String) throws {
        self.path = path
        sink = try ManifestSink(path: path)
    }

    /// Adds one path with its chunks (empty for directories, symlinks and empty files).
    public func add(_ file: FileRecord, chunks refs: [ChunkRef]) throws {
        let fid = rows.addFile(file)
        var offset = 0
        for (seq, c) in refs.enumerated() {
            rows.addChunk(file: fid, seq: seq, offset: offset, digest: c.digest, location: c.location)
            offset += c.location.rawSize
        }
        try drain()
    }

    private func drain() throws {
        guard !rows.ready.isEmpty else { return }
        for b in rows.ready { try sink.insert(b) }
        rows.ready.removeAll(keepingCapacity: true)
    }

    /// Writes metadata (totals filled in from what was added), commits and closes the file.
    public func finish(_ meta: ManifestMetadata) throws {
        rows.flush()
        try drain()
        try sink.finish(meta, rows: rows)
    }
}

/// The SQLite side of `ManifestWriter`: creates the database and inserts row batches in the order given.
/// Owned by one thread at a time.
final class ManifestSink {
    let db: SQLiteDatabase
    /// The statement for a full batch, per table.
    private var full: [SQLiteStatement] = []

    init(path: String) throws {
        db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        try db.execute(ManifestSchema.create)
        try db.execute("BEGIN")
        for t in ManifestTable.allCases { full.append(try db.prepare(t.sql(rows: ManifestTable.batchRows))) }
    }

    private static let staticBytes: sqlite3_destructor_type? = nil

    func insert(_ batch: RowBatch) throws {
        let stmt = batch.rows == ManifestTable.batchRows ? full[batch.table.rawValue]
                                                         : try db.prepare(batch.table.sql(rows: batch.rows))
        let s = stmt.stmt
        try batch.arena.withUnsafeBytes { arena in
            // The arena outlives the step: text and digests are bound in place (SQLITE_STATIC).
            let base = arena.baseAddress!
            for (i, v) in batch.slots.enumerated() {
                let p = Int32(i + 1)
                switch v.length {
                case RowBatch.Slot.integer: sqlite3_bind_int64(s, p, sqlite3_int64(v.value))
                case RowBatch.Slot.null: sqlite3_bind_null(s, p)
                case RowBatch.Slot.digest: sqlite3_bind_blob(s, p, base + v.value, 32, ManifestSink.staticBytes)
                default: sqlite3_bind_text(s, p, (base + v.value).assumingMemoryBound(to: CChar.self), v.length, ManifestSink.staticBytes)
                }
            }
            try stmt.insert()
        }
    }

    /// Writes metadata (totals from `rows`, all of whose batches were inserted) and commits.
    func finish(_ meta: ManifestMetadata, rows: ManifestRows) throws {
        var m = meta
        m.fileCount = rows.fileCount
        m.logicalBytes = rows.logicalBytes
        m.chunkCount = rows.chunkCount
        let ins = try db.prepare("INSERT INTO meta(key, value) VALUES (?,?)")
        for (k, v) in m.keyValues {
            ins.bind(1, k)
            ins.bind(2, v)
            try ins.run()
        }
        try db.execute("COMMIT")
    }
}

extension ManifestMetadata {
    /// The `meta` table rows, keys sorted (stable bytes).
    var keyValues: [(String, String)] {
        var kv: [String: String] = [
            "format_version": String(formatVersion),
            "project": project,
            "version": version,
            "build_time": buildTime,
            "tool_version": toolVersion,
            "chunker_min": String(chunker.minSize),
            "chunker_avg": String(chunker.avgSize),
            "chunker_max": String(chunker.maxSize),
            "file_count": String(fileCount),
            "logical_bytes": String(logicalBytes),
            "chunk_count": String(chunkCount),
            "carried_over": carriedOver.joined(separator: ","),
        ]
        if let dictionary { kv["dictionary"] = dictionary.hex }
        if let treeDigest { kv["tree_digest"] = treeDigest.hex }
        return kv.sorted { $0.key < $1.key }
    }

    init(keyValues kv: [String: String]) throws {
        func need(_ k: String) throws -> String {
            guard let v = kv[k] else { throw ManifestError.malformed("meta key \(k) missing") }
            return v
        }
        let fv = Int(try need("format_version")) ?? -1
        guard fv == ManifestMetadata.currentFormatVersion else {
            throw ManifestError.malformed("manifest format version \(fv) is not supported by this trove (supports \(ManifestMetadata.currentFormatVersion))")
        }
        let chunker = ChunkerParameters(minSize: Int(try need("chunker_min")) ?? 0, avgSize: Int(try need("chunker_avg")) ?? 0,
                                        maxSize: Int(try need("chunker_max")) ?? 0)
        self.init(project: try need("project"), version: try need("version"), buildTime: try need("build_time"),
                  toolVersion: try need("tool_version"), chunker: chunker, dictionary: kv["dictionary"].flatMap { Digest(hex: $0) })
        formatVersion = fv
        fileCount = Int(kv["file_count"] ?? "") ?? 0
        logicalBytes = Int(kv["logical_bytes"] ?? "") ?? 0
        chunkCount = Int(kv["chunk_count"] ?? "") ?? 0
        treeDigest = kv["tree_digest"].flatMap { Digest(hex: $0) }
        carriedOver = (kv["carried_over"] ?? "").split(separator: ",").map(String.init)
    }
}

public enum ManifestError: Error, CustomStringConvertible {
    case malformed(String)
    public var description: String {
        switch self { case .malformed(let m): "malformed manifest: \(m)" }
    }
}

extension ManifestWriter {
    /// Builds a complete manifest in a scratch file under `directory` and returns its bytes
    /// (the file is removed). Blocking: call from the I/O pool.
    public static func encode(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata, directory: URL) throws -> [UInt8] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let tmp = directory.appendingPathComponent("build-\(UUID().uuidString).sqlite").path
        defer { unlink(tmp) }
        return try write(tree: tree, metadata: metadata, path: tmp)
    }

    /// Builds a complete manifest at `path` (which must not exist; its directory must) and returns its
    /// bytes; the file stays, so a caller can rename it into a cache. Blocking: call from the I/O pool.
    public static func write(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata, path: String) throws -> [UInt8] {
        let w = try ManifestWriter(path: path)
        for (r, c) in tree { try w.add(r, chunks: c) }
        try w.finish(metadata)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
