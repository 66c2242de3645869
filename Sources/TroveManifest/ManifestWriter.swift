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
    private let insFile, insChunk, insPack, insDict, insFileChunk: SQLiteStatement
    private var metadata: ManifestMetadata?
    private var files = 0, bytes = 0

    /// Creates the database at `path` (which must not exist) and opens the write transaction.
    public init(path: String) throws {
        self.path = path
        db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
        try db.execute(ManifestSchema.create)
        try db.execute("BEGIN")
        insFile = try db.prepare("INSERT INTO files(id, path, kind, size, mode, content_type, digest, link_target) VALUES (?,?,?,?,?,?,?,?)")
        insChunk = try db.prepare("INSERT INTO chunks(id, digest, raw_size, stored_size, codec, dictionary_id, pack_id, pack_offset) VALUES (?,?,?,?,?,?,?,?)")
        insPack = try db.prepare("INSERT INTO packs(id, digest) VALUES (?,?)")
        insDict = try db.prepare("INSERT INTO dictionaries(id, digest) VALUES (?,?)")
        insFileChunk = try db.prepare("INSERT INTO file_chunks(file_id, seq, file_offset, chunk_id) VALUES (?,?,?,?)")
    }

    /// Adds one path with its chunks (empty for directories, symlinks and empty files).
    public func add(_ file: FileRecord, chunks: [ChunkRef]) throws {
        let fid = nextFileID
        nextFileID += 1
        insFile.bind(1, fid)
        insFile.bind(2, file.path)
        insFile.bind(3, file.kind.rawValue)
        insFile.bind(4, file.size)
        insFile.bind(5, file.mode)
        insFile.bind(6, file.contentType)
        insFile.bind(7, file.digest)
        insFile.bind(8, file.linkTarget)
        try insFile.run()
        if file.kind == .file { files += 1; bytes += file.size }
        var offset = 0
        for (seq, c) in chunks.enumerated() {
            let cid = try chunkID(c)
            insFileChunk.bind(1, fid)
            insFileChunk.bind(2, seq)
            insFileChunk.bind(3, offset)
            insFileChunk.bind(4, cid)
            try insFileChunk.run()
            offset += c.location.rawSize
        }
    }

    private func chunkID(_ c: ChunkRef) throws -> Int {
        if let id = chunkIDs[c.digest] { return id }
        let pid = try rowID(c.location.pack, in: &packIDs, insPack)
        let did = try c.location.dictionary.map { try rowID($0, in: &dictIDs, insDict) }
        let id = chunkIDs.count + 1
        chunkIDs[c.digest] = id
        insChunk.bind(1, id)
        insChunk.bind(2, c.digest)
        insChunk.bind(3, c.location.rawSize)
        insChunk.bind(4, c.location.storedSize)
        insChunk.bind(5, Int(c.location.codec.rawValue))
        insChunk.bind(6, did)
        insChunk.bind(7, pid)
        insChunk.bind(8, c.location.offset)
        try insChunk.run()
        return id
    }

    private func rowID(_ d: Digest, in map: inout [Digest: Int], _ stmt: SQLiteStatement) throws -> Int {
        if let id = map[d] { return id }
        let id = map.count + 1
        map[d] = id
        stmt.bind(1, id)
        stmt.bind(2, d)
        try stmt.run()
        return id
    }

    /// Writes metadata (totals filled in from what was added), commits and closes the file.
    public func finish(_ meta: ManifestMetadata) throws {
        var m = meta
        m.fileCount = files
        m.logicalBytes = bytes
        m.chunkCount = chunkIDs.count
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
        let w = try ManifestWriter(path: tmp)
        for (r, c) in tree { try w.add(r, chunks: c) }
        try w.finish(metadata)
        return Array(try Data(contentsOf: URL(fileURLWithPath: tmp)))
    }
}
