import Foundation
import TroveContent

/// Builds one build's manifest: an SQLite database (schema in `ManifestSchema`) laid out directly in
/// SQLite's file format by `SQLiteFileBuilder`, in memory, and optionally written to a file.
///
/// Deterministic: the same entries added in the same order with the same metadata produce the same
/// bytes, whatever SQLite library is installed (files are expected in path order; chunk, pack and
/// dictionary rows are numbered by first use).
public final class ManifestWriter {
    /// Where `finish` writes the database (it must not exist), if anywhere.
    public let path: String?
    // All state in one struct: one exclusivity check per call instead of one per field access.
    private var layout: ManifestLayout
    private var finished = false

    /// A writer that keeps the database in memory (`finish` returns it). `expectedFiles`,
    /// `expectedChunks`: sizes to reserve for, if known.
    public init(expectedFiles: Int = 0, expectedChunks: Int = 0) {
        path = nil
        layout = ManifestLayout(expectedFiles: expectedFiles, expectedChunks: expectedChunks)
    }

    /// A writer whose `finish` also creates the database file at `path` (which must not exist).
    public init(path: String, expectedFiles: Int = 0, expectedChunks: Int = 0) throws {
        if access(path, F_OK) == 0 { throw ManifestError.io("\(path) already exists") }
        self.path = path
        layout = ManifestLayout(expectedFiles: expectedFiles, expectedChunks: expectedChunks)
    }

    /// Adds one path with its chunks (empty for directories, symlinks and empty files).
    public func add(_ file: FileRecord, chunks refs: [ChunkRef]) throws {
        precondition(!finished, "ManifestWriter used after finish")
        layout.add(file, chunks: refs)
    }

    /// Adds one path whose chunks are located only now: `.located` chunks as given, `.digests` through
    /// `locate` (called once per chunk, in order).
    public func add(_ file: FileRecord, chunks: ManifestChunks, locate: (Digest) throws -> ChunkLocation) throws {
        precondition(!finished, "ManifestWriter used after finish")
        try layout.add(file, chunks: chunks, locate: locate)
    }

    /// Writes metadata (totals filled in from what was added) and the remaining pages; returns the
    /// database, also written to `path` if the writer has one.
    @discardableResult
    public func finish(_ meta: ManifestMetadata) throws -> [UInt8] {
        precondition(!finished, "ManifestWriter finished twice")
        finished = true
        let bytes = try layout.finish(meta)
        layout = ManifestLayout(expectedFiles: 0, expectedChunks: 0)
        if let path { try ManifestWriter.createFile(path, bytes) }
        return bytes
    }

    /// Writes `bytes` to a new file at `path` (failing if it exists), without fsync: for the local cache.
    public static func createFile(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ManifestError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        do { try bytes.withUnsafeBytes { b in try FileIO.writeAll(fd, b) } } catch {
            throw ManifestError.io("cannot write \(path): \(error)")
        }
    }
}

/// The manifest's rows laid out as SQLite pages: files in the order added, chunk, pack and dictionary
/// rows numbered by first use, `file_chunks` in (file, seq) order; `meta` and the index on `files.path`
/// at the end.
struct ManifestLayout {
    private var file: SQLiteFileBuilder
    private var packs = TableTreeBuilder(), dictionaries = TableTreeBuilder()
    private var chunks = TableTreeBuilder(), files = TableTreeBuilder()
    private var fileChunks = IndexTreeBuilder()
    private var packIDs: DigestIDs, dictIDs = DigestIDs(capacity: 4), chunkIDs: DigestIDs
    /// (path, file id) per file, for the index on `files.path`.
    private var paths: [(String, Int)] = []
    private var record = RecordEncoder()
    private var fileCount = 0, logicalBytes = 0

    init(expectedFiles: Int, expectedChunks: Int) {
        chunkIDs = DigestIDs(capacity: expectedChunks)
        packIDs = DigestIDs(capacity: max(16, expectedChunks / 256))
        paths.reserveCapacity(expectedFiles)
        // About 110 bytes per chunk (chunk and file_chunks rows) and 100 per file, plus slack.
        file = SQLiteFileBuilder(expectedBytes: expectedChunks * 110 + expectedFiles * 100 + (64 << 10))
    }

    mutating func add(_ f: FileRecord, chunks refs: [ChunkRef]) {
        let fid = addFile(f)
        var offset = 0
        for (seq, c) in refs.enumerated() {
            addChunk(file: fid, seq: seq, offset: offset, digest: c.digest, location: c.location)
            offset += c.location.rawSize
        }
    }

    mutating func add(_ f: FileRecord, chunks: ManifestChunks, locate: (Digest) throws -> ChunkLocation) throws {
        switch chunks {
        case .none: _ = addFile(f)
        case .located(let refs): add(f, chunks: refs)
        case .digests(let list):
            let fid = addFile(f)
            var offset = 0
            for (seq, (d, _)) in list.enumerated() {
                let loc = try locate(d)
                addChunk(file: fid, seq: seq, offset: offset, digest: d, location: loc)
                offset += loc.rawSize
            }
        }
    }

    private mutating func addFile(_ f: FileRecord) -> Int {
        let fid = paths.count + 1
        paths.append((f.path, fid))
        record.reset()
        record.null() // id: the rowid
        record.text(f.path)
        record.text(f.kind.rawValue)
        record.int(f.size)
        record.int(f.mode)
        record.text(f.contentType)
        record.blob(f.digest)
        record.text(f.linkTarget)
        record.blob(f.mainContentDigest)
        files.insert(rowid: fid, record: record.encoded(), into: &file)
        if f.kind == .file { fileCount += 1; logicalBytes += f.size }
        return fid
    }

    @inline(__always)
    private mutating func addChunk(file fid: Int, seq: Int, offset: Int, digest: Digest, location: ChunkLocation) {
        let cid = chunkID(digest, location)
        record.reset()
        record.int(fid)
        record.int(seq)
        record.int(offset)
        record.int(cid)
        fileChunks.insert(record: record.encoded(), into: &file)
    }

    private mutating func chunkID(_ d: Digest, _ loc: ChunkLocation) -> Int {
        let (id, new) = chunkIDs.id(d)
        guard new else { return id }
        let (pid, newPack) = packIDs.id(loc.pack)
        if newPack {
            record.reset()
            record.null()
            record.blob(loc.pack)
            packs.insert(rowid: pid, record: record.encoded(), into: &file)
        }
        var did: Int? = nil
        if let dict = loc.dictionary {
            let (n, newDict) = dictIDs.id(dict)
            did = n
            if newDict {
                record.reset()
                record.null()
                record.blob(dict)
                dictionaries.insert(rowid: n, record: record.encoded(), into: &file)
            }
        }
        record.reset()
        record.null()
        record.blob(d)
        record.int(loc.rawSize)
        record.int(loc.storedSize)
        record.int(Int(loc.codec.rawValue))
        record.int(did)
        record.int(pid)
        record.int(loc.offset)
        chunks.insert(rowid: id, record: record.encoded(), into: &file)
        return id
    }

    /// Writes `meta`, the index on `files.path`, every tree's last pages and page 1; returns the file.
    mutating func finish(_ meta: ManifestMetadata) throws -> [UInt8] {
        var m = meta
        m.fileCount = fileCount
        m.logicalBytes = logicalBytes
        m.chunkCount = chunkIDs.count

        // The index on files.path: (path, id) in path order, paths unique.
        if paths.indices.dropFirst().contains(where: { !paths[$0 - 1].0.utf8.lexicographicallyPrecedes(paths[$0].0.utf8) }) {
            paths.sort { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) || $0.0 == $1.0 && $0.1 < $1.1 }
            for i in paths.indices.dropFirst() where paths[i].0.utf8.elementsEqual(paths[i - 1].0.utf8) {
                throw ManifestError.malformed("duplicate path \(paths[i].0)")
            }
        }
        var roots: [String: UInt32] = [:]
        var metaTable = IndexTreeBuilder()
        for (k, v) in m.keyValues {
            record.reset()
            record.text(k)
            record.text(v)
            metaTable.insert(record: record.encoded(), into: &file)
        }
        roots["meta"] = metaTable.finish(into: &file)
        roots["packs"] = packs.finish(into: &file)
        roots["dictionaries"] = dictionaries.finish(into: &file)
        roots["chunks"] = chunks.finish(into: &file)
        roots["files"] = files.finish(into: &file)
        var pathIndex = IndexTreeBuilder()
        for (p, fid) in paths {
            record.reset()
            record.text(p)
            record.int(fid)
            pathIndex.insert(record: record.encoded(), into: &file)
        }
        roots["sqlite_autoindex_files_1"] = pathIndex.finish(into: &file)
        roots["file_chunks"] = fileChunks.finish(into: &file)
        let schema = ManifestSchema.objects.map { o in
            (type: o.type, name: o.name, table: o.type == "index" ? "files" : o.name, root: roots[o.name] ?? 0, sql: o.sql)
        }
        precondition(schema.allSatisfy { $0.type == "view" || $0.root != 0 }, "a table of the schema was not written")
        return file.finish(schema: schema)
    }
}

/// The chunks of one manifest entry as `ManifestWriter.add(_:chunks:locate:)` takes them: none
/// (directories, symlinks, empty files), already located, or digests (with raw sizes) to locate then.
public enum ManifestChunks: Sendable {
    case none
    case located([ChunkRef])
    case digests([(Digest, Int)])
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
        if hasMainDigestColumn { kv["main_content_selectors"] = mainContentSelectors ?? "" }
        return kv.sorted { $0.key < $1.key }
    }

    init(keyValues kv: [String: String]) throws {
        func need(_ k: String) throws -> String {
            guard let v = kv[k] else { throw ManifestError.malformed("meta key \(k) missing") }
            return v
        }
        let fv = Int(try need("format_version")) ?? -1
        guard ManifestMetadata.readableFormatVersions.contains(fv) else {
            throw ManifestError.malformed("manifest format version \(fv) is not supported by this trove (supports \(ManifestMetadata.readableFormatVersions.lowerBound)–\(ManifestMetadata.currentFormatVersion))")
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
        // Format 2 before the setting existed: the default list. Empty: publish recorded none.
        mainContentSelectors = fv < 2 ? nil : (kv["main_content_selectors"] ?? MainContentSelectors.standard.description)
        if mainContentSelectors?.isEmpty == true { mainContentSelectors = nil }
    }
}

public enum ManifestError: Error, CustomStringConvertible {
    case malformed(String)
    /// Creating or writing a manifest file failed.
    case io(String)
    public var description: String {
        switch self {
        case .malformed(let m): "malformed manifest: \(m)"
        case .io(let m): "manifest file: \(m)"
        }
    }
}

extension ManifestWriter {
    /// Builds a complete manifest in memory and returns its bytes.
    public static func encode(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) throws -> [UInt8] {
        let w = ManifestWriter(expectedFiles: tree.count, expectedChunks: tree.reduce(0) { $0 + $1.1.count })
        for (r, c) in tree { try w.add(r, chunks: c) }
        return try w.finish(metadata)
    }

    /// Builds a complete manifest, writes it to `path` (which must not exist; its directory must) and
    /// returns its bytes; the file stays, so a caller can rename it into a cache. Blocking: call from the I/O pool.
    public static func write(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata, path: String) throws -> [UInt8] {
        let bytes = try encode(tree: tree, metadata: metadata)
        try createFile(path, bytes)
        return bytes
    }
}
