import Foundation
import TroveContent

/// Writes one build's manifest as a new SQLite file, in one transaction.
///
/// Deterministic: the same entries added in the same order with the same metadata produce the same
/// bytes (files are expected in path order; chunk, pack and dictionary rows are numbered by first use).
public final class ManifestWriter {
    let db: SQLiteDatabase
    public let path: String
    private var packIDs: [Digest: Int] = [:]
    private var dictIDs: [Digest: Int] = [:]
    private var chunkIDs: [Digest: Int] = [:]
    private var nextFileID = 1
    // Rows go in through multi-row INSERTs: SQLite's cost is mostly per statement run, so 64 rows per
    // run write a manifest about a third faster than one (trove-bench manifest; docs/benchmarks.md).
    private let files, chunks, packs, dictionaries, fileChunks: BatchedInsert
    private var fileCount = 0, logicalBytes = 0

    /// Creates the database at `path` (which must not exist) and opens the write transaction.
    public init(path: String) throws {
        self.path = path
        db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        try db.execute(ManifestSchema.create)
        try db.execute("BEGIN")
        files = try BatchedInsert(db, "files(id, path, kind, size, mode, content_type, digest, link_target)", columns: 8)
        chunks = try BatchedInsert(db, "chunks(id, digest, raw_size, stored_size, codec, dictionary_id, pack_id, pack_offset)", columns: 8)
        packs = try BatchedInsert(db, "packs(id, digest)", columns: 2)
        dictionaries = try BatchedInsert(db, "dictionaries(id, digest)", columns: 2)
        fileChunks = try BatchedInsert(db, "file_chunks(file_id, seq, file_offset, chunk_id)", columns: 4)
    }

    /// Adds one path with its chunks (empty for directories, symlinks and empty files).
    public func add(_ file: FileRecord, chunks refs: [ChunkRef]) throws {
        let fid = nextFileID
        nextFileID += 1
        files.append(.int(fid))
        files.append(.text(file.path))
        files.append(.text(file.kind.rawValue))
        files.append(.int(file.size))
        files.append(.int(file.mode))
        files.append(file.contentType.map { .text($0) } ?? .null)
        files.append(file.digest.map { .digest($0) } ?? .null)
        files.append(file.linkTarget.map { .text($0) } ?? .null)
        try files.endRow()
        if file.kind == .file { fileCount += 1; logicalBytes += file.size }
        var offset = 0
        for (seq, c) in refs.enumerated() {
            let cid = try chunkID(c)
            fileChunks.append(.int(fid))
            fileChunks.append(.int(seq))
            fileChunks.append(.int(offset))
            fileChunks.append(.int(cid))
            try fileChunks.endRow()
            offset += c.location.rawSize
        }
    }

    private func chunkID(_ c: ChunkRef) throws -> Int {
        if let id = chunkIDs[c.digest] { return id }
        let pid = try rowID(c.location.pack, in: &packIDs, packs)
        let did = try c.location.dictionary.map { try rowID($0, in: &dictIDs, dictionaries) }
        let id = chunkIDs.count + 1
        chunkIDs[c.digest] = id
        chunks.append(.int(id))
        chunks.append(.digest(c.digest))
        chunks.append(.int(c.location.rawSize))
        chunks.append(.int(c.location.storedSize))
        chunks.append(.int(Int(c.location.codec.rawValue)))
        chunks.append(did.map { .int($0) } ?? .null)
        chunks.append(.int(pid))
        chunks.append(.int(c.location.offset))
        try chunks.endRow()
        return id
    }

    private func rowID(_ d: Digest, in map: inout [Digest: Int], _ table: BatchedInsert) throws -> Int {
        if let id = map[d] { return id }
        let id = map.count + 1
        map[d] = id
        table.append(.int(id))
        table.append(.digest(d))
        try table.endRow()
        return id
    }

    /// Writes metadata (totals filled in from what was added), commits and closes the file.
    public func finish(_ meta: ManifestMetadata) throws {
        var m = meta
        m.fileCount = fileCount
        m.logicalBytes = logicalBytes
        m.chunkCount = chunkIDs.count
        for t in [packs, dictionaries, chunks, files, fileChunks] { try t.flush() }
        let ins = try db.prepare("INSERT INTO meta(key, value) VALUES (?,?)")
        for (k, v) in m.keyValues {
            ins.bind(1, k)
            ins.bind(2, v)
            try ins.run()
        }
        try db.execute("COMMIT")
    }
}

/// Rows for one table, inserted `batch` at a time with one multi-row INSERT (the last partial batch
/// with a statement prepared for its size). Rows are inserted in the order they were appended.
final class BatchedInsert {
    enum Value {
        case int(Int), text(String), digest(Digest), null
    }

    let db: SQLiteDatabase
    let table: String
    let columns: Int
    let batch: Int
    private let full: SQLiteStatement
    private var values: [Value] = []

    init(_ db: SQLiteDatabase, _ table: String, columns: Int, batch: Int = 64) throws {
        self.db = db
        self.table = table
        self.columns = columns
        self.batch = batch
        full = try db.prepare(BatchedInsert.sql(table, columns: columns, rows: batch))
        values.reserveCapacity(columns * batch)
    }

    static func sql(_ table: String, columns: Int, rows: Int) -> String {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ",") + ")"
        return "INSERT INTO \(table) VALUES " + Array(repeating: row, count: rows).joined(separator: ",")
    }

    @inline(__always) func append(_ v: Value) { values.append(v) }

    /// Ends a row (all `columns` values appended); runs the batch when it is full.
    @inline(__always) func endRow() throws {
        if values.count == columns * batch { try run(full) }
    }

    /// Inserts the rows of a partial batch.
    func flush() throws {
        guard !values.isEmpty else { return }
        precondition(values.count % columns == 0, "incomplete row for \(table)")
        try run(try db.prepare(BatchedInsert.sql(table, columns: columns, rows: values.count / columns)))
    }

    private func run(_ stmt: SQLiteStatement) throws {
        for (i, v) in values.enumerated() {
            let p = Int32(i + 1)
            switch v {
            case .int(let n): stmt.bind(p, n)
            case .text(let s): stmt.bind(p, s)
            case .digest(let d): stmt.bind(p, d)
            case .null: stmt.bind(p, nil as Int?)
            }
        }
        try stmt.insert()
        values.removeAll(keepingCapacity: true)
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
