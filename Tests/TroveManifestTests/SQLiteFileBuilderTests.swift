import Foundation
import Testing
import TroveContent
@testable import TroveManifest

/// `ManifestWriter` lays out SQLite pages itself (`SQLiteFileBuilder`). These tests hold it to what
/// SQLite would store: the schema rows SQLite writes for `ManifestSchema.create`, and, for trees of
/// every shape (empty, multi-level b-trees, rows spilling to overflow pages, integers of every
/// width), the same rows as a reference database written with SQLite's own INSERTs, in a file
/// `PRAGMA integrity_check` accepts and SQLite can go on modifying.
@Suite struct SQLiteFileBuilderTests {
    func tempDir() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("trove-sqlfile-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    @Test func schemaRowsAreWhatSQLiteStores() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = try SQLiteDatabase(path: dir.appendingPathComponent("s.sqlite").path, mode: .readWriteCreate)
        try db.execute(ManifestSchema.create)
        let q = try db.prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid")
        var rows: [String] = []
        while try q.step() { rows.append("\(q.string(0))|\(q.string(1))|\(q.string(2))|\(q.optionalString(3) ?? "NULL")") }
        let ours = ManifestSchema.objects.map { "\($0.type)|\($0.name)|\($0.type == "index" ? "files" : $0.name)|\($0.sql ?? "NULL")" }
        #expect(ours == rows)
    }

    @Test func varints() {
        // Decoded as fileformat2.html describes, for values around every length boundary.
        func decode(_ b: [UInt8]) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<min(b.count, 8) {
                v = v << 7 | UInt64(b[i] & 0x7f)
                if b[i] & 0x80 == 0 { return v }
            }
            return v << 8 | UInt64(b[8])
        }
        var values: [UInt64] = [0, 1, UInt64.max, UInt64(Int64.max)]
        for bits in stride(from: 7, through: 63, by: 7) { values += [(1 << UInt64(bits)) - 1, 1 << UInt64(bits)] }
        values += [(1 << 56) - 1, 1 << 56, (1 << 56) + 12345]
        for v in values {
            var out: [UInt8] = []
            appendVarint(v, to: &out)
            #expect(out.count == varintLength(v), "length of \(v)")
            #expect(decode(out) == v, "round trip of \(v)")
        }
    }

    // MARK: - Trees

    /// Integers of every serial-type width, and a few negative ones.
    static let widths: [Int] = [0, 1, 2, 127, 128, 255, 32767, 32768, 8_388_607, 8_388_608, Int(Int32.max), 1 << 31,
                                (1 << 47) - 1, 1 << 47, 1 << 60, -1, -129, -40000]

    func tree(files n: Int, chunksPerFile: Int, distinct: Int, longPaths: Bool = false) -> [(FileRecord, [ChunkRef])] {
        let dicts = [Digest.sha256(Array("d1".utf8)), Digest.sha256(Array("d2".utf8))]
        var out: [(FileRecord, [ChunkRef])] = [
            (FileRecord(path: "d", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), []),
        ]
        for f in 0..<n {
            var refs: [ChunkRef] = []
            for c in 0..<(chunksPerFile == 0 ? 0 : (f % chunksPerFile) + 1) {
                let k = (f * 7 + c * 13) % distinct
                let w = SQLiteFileBuilderTests.widths
                refs.append(ChunkRef(digest: Digest.sha256(Array("chunk \(k)".utf8)), location: ChunkLocation(
                    pack: Digest.sha256(Array("pack \(k / 50)".utf8)), offset: w[k % w.count], storedSize: w[(k + 3) % w.count],
                    rawSize: [0, 1, 127, 128, 32768, 1 << 31, 1 << 40][k % 7], codec: k % 3 == 0 ? .raw : .zstdDictionary, dictionary: k % 3 == 0 ? nil : dicts[k % 2])))
            }
            var name = String(format: "d/f%06d-ü.html", f)
            if longPaths && f % 97 == 0 { name += "/" + String(repeating: "x", count: 900 + f % 5000) } // index and table overflow
            let kind: EntryKind = f % 50 == 1 ? .symlink : .file
            out.append((FileRecord(path: name, kind: kind, size: kind == .file ? refs.reduce(0) { $0 + $1.location.rawSize } : 7,
                                   mode: f % 11 == 0 ? 0o7777 : 0o644, contentType: kind == .file ? "text/html; charset=utf-8" : nil,
                                   digest: kind == .file ? Digest.sha256(Array("file \(f)".utf8)) : nil,
                                   linkTarget: kind == .symlink ? String(repeating: "t/", count: f % 3 == 0 ? 6000 : 3) : nil,
                                   mainContentDigest: kind == .file && f % 2 == 0 ? Digest.sha256(Array("main \(f)".utf8)) : nil),
                        kind == .file ? refs : []))
        }
        return out
    }

    func meta(_ tree: [(FileRecord, [ChunkRef])]) -> ManifestMetadata {
        var m = ManifestMetadata(project: "p", version: "v1", buildTime: "2026-01-01T00:00:00Z", toolVersion: "test",
                                 chunker: .default, dictionary: Digest.sha256(Array("d1".utf8)))
        m.treeDigest = TreeDigest.compute(tree.map(\.0))
        m.carriedOver = ["pdf", String(repeating: "epub", count: 400)]
        return m
    }

    /// The same rows written through SQLite: the schema, then INSERTs numbering chunks, packs and
    /// dictionaries by first use.
    func reference(_ tree: [(FileRecord, [ChunkRef])], _ meta: ManifestMetadata, at path: String) throws {
        let db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute(ManifestSchema.create)
        try db.execute("BEGIN")
        let file = try db.prepare("INSERT INTO files VALUES (?,?,?,?,?,?,?,?,?)")
        let chunk = try db.prepare("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?)")
        let pack = try db.prepare("INSERT INTO packs VALUES (?,?)"), dict = try db.prepare("INSERT INTO dictionaries VALUES (?,?)")
        let fc = try db.prepare("INSERT INTO file_chunks VALUES (?,?,?,?)")
        var packs: [Digest: Int] = [:], dicts: [Digest: Int] = [:], chunks: [Digest: Int] = [:]
        var m = meta
        for (i, (r, refs)) in tree.enumerated() {
            file.bind(1, i + 1); file.bind(2, r.path); file.bind(3, r.kind.rawValue); file.bind(4, r.size); file.bind(5, r.mode)
            file.bind(6, r.contentType); file.bind(7, r.digest); file.bind(8, r.linkTarget)
            file.bind(9, r.mainContentDigest)
            try file.run()
            if r.kind == .file { m.fileCount += 1; m.logicalBytes += r.size }
            var offset = 0
            for (seq, c) in refs.enumerated() {
                if chunks[c.digest] == nil {
                    if packs[c.location.pack] == nil {
                        packs[c.location.pack] = packs.count + 1
                        pack.bind(1, packs.count); pack.bind(2, c.location.pack); try pack.run()
                    }
                    if let d = c.location.dictionary, dicts[d] == nil {
                        dicts[d] = dicts.count + 1
                        dict.bind(1, dicts.count); dict.bind(2, d); try dict.run()
                    }
                    chunks[c.digest] = chunks.count + 1
                    chunk.bind(1, chunks.count); chunk.bind(2, c.digest); chunk.bind(3, c.location.rawSize)
                    chunk.bind(4, c.location.storedSize); chunk.bind(5, Int(c.location.codec.rawValue))
                    chunk.bind(6, c.location.dictionary.map { dicts[$0]! }); chunk.bind(7, packs[c.location.pack]!)
                    chunk.bind(8, c.location.offset)
                    try chunk.run()
                }
                fc.bind(1, i + 1); fc.bind(2, seq); fc.bind(3, offset); fc.bind(4, chunks[c.digest]!)
                try fc.run()
                offset += c.location.rawSize
            }
        }
        m.chunkCount = chunks.count
        let kv = try db.prepare("INSERT INTO meta VALUES (?,?)")
        for (k, v) in m.keyValues { kv.bind(1, k); kv.bind(2, v); try kv.run() }
        try db.execute("COMMIT")
    }

    /// Every row of every table (and of the index on files.path, walked in its own order), quoted.
    func dump(_ path: String) throws -> [String] {
        let db = try SQLiteDatabase(path: path, mode: .readOnly)
        var out: [String] = []
        for q in ["SELECT quote(key) || ',' || quote(value) FROM meta ORDER BY key",
                  "SELECT id || ',' || quote(digest) FROM packs ORDER BY id",
                  "SELECT id || ',' || quote(digest) FROM dictionaries ORDER BY id",
                  "SELECT id || ',' || quote(digest) || ',' || raw_size || ',' || stored_size || ',' || codec || ',' || quote(dictionary_id) || ',' || pack_id || ',' || pack_offset FROM chunks ORDER BY id",
                  "SELECT id || ',' || quote(path) || ',' || kind || ',' || size || ',' || mode || ',' || quote(content_type) || ',' || quote(digest) || ',' || quote(link_target) || ',' || quote(main_digest) FROM files ORDER BY id",
                  "SELECT id || ',' || path FROM files INDEXED BY sqlite_autoindex_files_1 WHERE path >= '' ORDER BY path",
                  "SELECT file_id || ',' || seq || ',' || file_offset || ',' || chunk_id FROM file_chunks ORDER BY file_id, seq",
                  "SELECT count(*) FROM chunk_list"] {
            let s = try db.prepare(q)
            while try s.step() { out.append(s.string(0)) }
            out.append("--")
        }
        return out
    }

    func integrity(_ path: String) throws -> String {
        let db = try SQLiteDatabase(path: path, mode: .readOnly)
        let s = try db.prepare("PRAGMA integrity_check")
        var out: [String] = []
        while try s.step() { out.append(s.string(0)) }
        return out.joined(separator: "\n")
    }

    /// `valid`: the tree holds only values a reader accepts; the trees of integers of every width do
    /// not (negative offsets, 1 TiB chunks), and `Manifest` must refuse them instead.
    func check(_ tree: [(FileRecord, [ChunkRef])], name: String, valid: Bool = true) throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let meta = meta(tree)
        let ours = dir.appendingPathComponent("ours.sqlite").path, ref = dir.appendingPathComponent("ref.sqlite").path
        let bytes = try ManifestWriter.write(tree: tree, metadata: meta, path: ours)
        #expect(bytes.count % 4096 == 0)
        try reference(tree, meta, at: ref)
        #expect(try integrity(ours) == "ok", "\(name): integrity")
        let (a, b) = (try dump(ours), try dump(ref))
        #expect(a.count == b.count, "\(name): row count")
        #expect(a == b, "\(name): rows differ from SQLite's")
        // Readable through Manifest, chunk lists included.
        let m = try Manifest(path: ours, digest: Digest.sha256(bytes))
        guard valid else {
            #expect(throws: ManifestError.self, "\(name): out-of-range rows accepted") { try m.validate() }
            return
        }
        let listed = try m.list()
        #expect(listed.map(\.path) == tree.map(\.0.path).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }, "\(name): list")
        let want = Dictionary(tree.map { ($0.0.path, $0.1) }, uniquingKeysWith: { a, _ in a })
        for r in listed where r.kind == .file {
            #expect(try m.chunks(of: r) == want[r.path], "\(name): chunks of \(r.path.prefix(40))")
        }
        // SQLite can go on writing to the file (header, page counts and b-trees are what it expects).
        let rw = try SQLiteDatabase(path: ours, mode: .readWriteCreate)
        try rw.execute("INSERT INTO files(path, kind, size, mode) VALUES ('zz/new', 'file', 1, 420); DELETE FROM file_chunks WHERE file_id % 3 = 0")
        #expect(try integrity(ours) == "ok", "\(name): integrity after SQLite modified it")
    }

    @Test func emptyTree() throws { try check([], name: "empty") }

    @Test func sampleTree() throws { try check(ManifestTests().sampleTree(), name: "sample") }

    /// Enough rows for several interior pages per level: three-level file_chunks and path index trees,
    /// two-level chunks and files trees.
    @Test func multiLevelTrees() throws {
        try check(tree(files: 12_000, chunksPerFile: 12, distinct: 40_000), name: "multi-level", valid: false)
    }

    /// Paths over an index cell's local limit and symlink targets over a table leaf's, and unsorted
    /// input (the path index is sorted by the writer).
    @Test func overflowPagesAndUnsortedInput() throws {
        var t = tree(files: 3_000, chunksPerFile: 3, distinct: 500, longPaths: true)
        try check(t, name: "overflow", valid: false)
        t.reverse()
        try check(t, name: "overflow, reversed", valid: false)
    }

    @Test func rejectsDuplicatePaths() throws {
        let w = ManifestWriter()
        let r = FileRecord(path: "a", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil)
        try w.add(r, chunks: [])
        try w.add(r, chunks: [])
        #expect(throws: ManifestError.self) { try w.finish(meta([])) }
    }

    /// Entries whose chunks are located while the manifest is written give the same bytes as the same
    /// entries located beforehand.
    @Test func locatedLaterIsTheSameManifest() throws {
        let t = tree(files: 500, chunksPerFile: 5, distinct: 900)
        let meta = meta(t)
        let locations = Dictionary(t.flatMap { $0.1.map { ($0.digest, $0.location) } }, uniquingKeysWith: { a, _ in a })
        let w = ManifestWriter()
        for (i, (r, refs)) in t.enumerated() {
            let chunks: ManifestChunks = refs.isEmpty ? .none : i % 2 == 0 ? .located(refs) : .digests(refs.map { ($0.digest, $0.location.rawSize) })
            try w.add(r, chunks: chunks) { locations[$0]! }
        }
        #expect(try w.finish(meta) == (try ManifestWriter.encode(tree: t, metadata: meta)))
    }

    /// The b-tree builders alone, for every row count up to a few interior pages: big records make
    /// pages hold few cells, so each way a level can end (one child left over, a divider with no leaf
    /// after it) comes up.
    @Test func treeShapes() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Index pages hold 8 cells of these records; table interior pages 272 cells of 9-byte rowids
        // over leaves of 2 rows, so 547–548 and 1094–1095 rows leave one child for the last page.
        let value = String(repeating: "v", count: 1950), pad = String(repeating: "k", count: 992)
        for n in Array(0...100) + [547, 548, 549, 1094, 1095] {
            var file = SQLiteFileBuilder()
            var table = TableTreeBuilder(), index = IndexTreeBuilder()
            var record = RecordEncoder()
            for i in 0..<n {
                // A key that sorts by i, padded to 1000 bytes (index) and a 2000-byte row (table).
                let key = String(format: "%08d", i) + pad
                record.reset()
                record.null()
                record.blob(Digest.sha256(Array(key.utf8)))
                record.text(value)
                table.insert(rowid: (1 << 57) + i, record: record.encoded(), into: &file)
                record.reset()
                record.text(key)
                index.insert(record: record.encoded(), into: &file)
            }
            let t = table.finish(into: &file), i = index.finish(into: &file)
            let bytes = file.finish(schema: [
                ("table", "t", "t", t, "CREATE TABLE t(id INTEGER PRIMARY KEY, d BLOB, v TEXT)"),
                ("table", "i", "i", i, "CREATE TABLE i(k TEXT PRIMARY KEY) WITHOUT ROWID"),
            ])
            let path = dir.appendingPathComponent("t\(n).sqlite").path
            try ManifestWriter.createFile(path, bytes) // no fsync, unlike Data.write
            let check = try integrity(path)
            #expect(check == "ok", "\(n) rows: \(check.prefix(400))")
            let db = try SQLiteDatabase(path: path, mode: .readOnly)
            let q = try db.prepare("SELECT (SELECT count(*) FROM t), (SELECT count(*) FROM i), (SELECT max(id) FROM t)")
            _ = try q.step()
            #expect(q.int(0) == n && q.int(1) == n && (n == 0 || q.int(2) == (1 << 57) + (n - 1)), "\(n) rows")
        }
    }
}
