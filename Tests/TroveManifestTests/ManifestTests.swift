import Foundation
import Testing
import TroveContent
import TroveManifest

@Suite struct ManifestTests {
    func tempDir() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("trove-manifest-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    func sampleTree() -> [(FileRecord, [ChunkRef])] {
        let pack = Digest.sha256(Array("pack".utf8)), dict = Digest.sha256(Array("dict".utf8))
        let c1 = ChunkRef(digest: Digest.sha256([1]), location: ChunkLocation(pack: pack, offset: 0, storedSize: 10, rawSize: 20, codec: .zstd, dictionary: nil))
        let c2 = ChunkRef(digest: Digest.sha256([2]), location: ChunkLocation(pack: pack, offset: 10, storedSize: 5, rawSize: 9, codec: .zstdDictionary, dictionary: dict))
        return [
            (FileRecord(path: "html", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), []),
            (FileRecord(path: "html/a b ü.html", kind: .file, size: 29, mode: 0o644, contentType: "text/html; charset=utf-8", digest: Digest.file(chunks: [c1.digest, c2.digest]), linkTarget: nil,
                        mainContentDigest: Digest.sha256(Array("main".utf8))), [c1, c2]),
            (FileRecord(path: "html/empty", kind: .file, size: 0, mode: 0o600, contentType: nil, digest: Digest.file(chunks: []), linkTarget: nil), []),
            (FileRecord(path: "html/link", kind: .symlink, size: 8, mode: 0o777, contentType: nil, digest: nil, linkTarget: "a b ü.html"), []),
            (FileRecord(path: "html/sub", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), []),
            (FileRecord(path: "html/sub/x.css", kind: .file, size: 20, mode: 0o644, contentType: "text/css; charset=utf-8", digest: Digest.file(chunks: [c1.digest]), linkTarget: nil), [c1]),
        ]
    }

    func meta() -> ManifestMetadata {
        var m = ManifestMetadata(project: "p", version: "v1", buildTime: "2026-01-01T00:00:00Z", toolVersion: "test", chunker: .default, dictionary: Digest.sha256(Array("dict".utf8)))
        m.treeDigest = TreeDigest.compute(sampleTree().map(\.0))
        return m
    }

    @Test func writeAndReadBack() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = try ManifestWriter.encode(tree: sampleTree(), metadata: meta())
        let path = dir.appendingPathComponent("m.sqlite").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let m = try Manifest(path: path, digest: Digest.sha256(bytes))
        #expect(m.metadata.project == "p" && m.metadata.version == "v1")
        #expect(m.metadata.fileCount == 3 && m.metadata.logicalBytes == 49 && m.metadata.chunkCount == 2)
        #expect(m.metadata.treeDigest == meta().treeDigest)
        let f = try #require(try m.file(at: "html/a b ü.html"))
        #expect(f.size == 29 && f.contentType == "text/html; charset=utf-8")
        #expect(f.mainContentDigest == Digest.sha256(Array("main".utf8)) && m.metadata.hasMainContentDigests)
        #expect(try m.file(at: "html/sub/x.css")?.mainContentDigest == nil)
        let chunks = try m.chunks(of: f)
        #expect(chunks.map(\.digest) == sampleTree()[1].1.map(\.digest))
        #expect(chunks[1].location.dictionary == Digest.sha256(Array("dict".utf8)))
        #expect(try m.file(at: "html/missing") == nil)
        #expect(try m.file(at: "html/link")?.linkTarget == "a b ü.html")
        #expect(try m.list(under: "html", recursive: false).map(\.path) == ["html/a b ü.html", "html/empty", "html/link", "html/sub"])
        #expect(try m.list(under: "html/sub").map(\.path) == ["html/sub/x.css"])
        #expect(try m.list().count == 6)
        #expect(try m.referencedObjects().packs == [Digest.sha256(Array("pack".utf8))])
    }

    @Test func deterministicBytes() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = try ManifestWriter.encode(tree: sampleTree(), metadata: meta())
        let b = try ManifestWriter.encode(tree: sampleTree(), metadata: meta())
        #expect(a == b)
        var other = meta()
        other.buildTime = "2026-01-02T00:00:00Z"
        #expect(try ManifestWriter.encode(tree: sampleTree(), metadata: other) != a)
    }

    /// A tree with more rows than one multi-row insert batch in every table (files, chunks, packs,
    /// file_chunks), shared chunks and two dictionaries: everything reads back as written, and twice
    /// written it is the same bytes.
    @Test func largeTreeReadsBackAcrossInsertBatches() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let dicts = [Digest.sha256(Array("d1".utf8)), Digest.sha256(Array("d2".utf8))]
        var tree: [(FileRecord, [ChunkRef])] = [(FileRecord(path: "d", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), [])]
        for f in 0..<300 {
            var refs: [ChunkRef] = []
            for c in 0..<(f % 7) {
                let n = (f * 5 + c) % 900 // chunks repeat across files
                refs.append(ChunkRef(digest: Digest.sha256(Array("chunk \(n)".utf8)), location: ChunkLocation(
                    pack: Digest.sha256(Array("pack \(n / 7)".utf8)), offset: n * 100, storedSize: 50 + n, rawSize: 100 + n,
                    codec: n % 3 == 0 ? .raw : .zstdDictionary, dictionary: n % 3 == 0 ? nil : dicts[n % 2])))
            }
            tree.append((FileRecord(path: String(format: "d/f%04d.html", f), kind: .file, size: refs.reduce(0) { $0 + $1.location.rawSize },
                                    mode: 0o644, contentType: "text/html; charset=utf-8", digest: Digest.file(chunks: refs.map(\.digest)),
                                    linkTarget: nil), refs))
        }
        var meta = meta()
        meta.treeDigest = TreeDigest.compute(tree.map(\.0))
        let bytes = try ManifestWriter.encode(tree: tree, metadata: meta)
        #expect(try ManifestWriter.encode(tree: tree, metadata: meta) == bytes)
        let path = dir.appendingPathComponent("m.sqlite").path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let m = try Manifest(path: path, digest: Digest.sha256(bytes))
        #expect(m.metadata.fileCount == 300 && m.metadata.chunkCount == Set(tree.flatMap { $0.1.map(\.digest) }).count)
        let listed = try m.list()
        #expect(listed.map(\.path) == tree.map(\.0.path))
        for (record, (want, wantChunks)) in zip(listed, tree) {
            #expect(record.kind == want.kind && record.size == want.size && record.digest == want.digest && record.mode == want.mode)
            if record.kind == .file { #expect(try m.chunks(of: record) == wantChunks) }
        }
        #expect(Set(try m.referencedObjects().packs) == Set(tree.flatMap { $0.1.map(\.location.pack) }))
        #expect(Set(try m.referencedObjects().dictionaries) == Set(dicts))
        // forEachChunk (the dedup index's source) yields every distinct chunk once, with its location.
        var seen: [Digest: ChunkLocation] = [:], calls = 0
        try m.forEachChunk { d, loc in seen[d] = loc; calls += 1 }
        let want = Dictionary(tree.flatMap { $0.1.map { ($0.digest, $0.location) } }, uniquingKeysWith: { a, _ in a })
        #expect(calls == want.count && seen == want)
    }

    @Test func queryableWithSqliteShell() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.sqlite").path
        try Data(try ManifestWriter.encode(tree: sampleTree(), metadata: meta())).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path, "SELECT path, size FROM file_list WHERE kind = 'file'; SELECT count(*) FROM chunk_list;"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0)
        #expect(text == "html/a b ü.html|29\nhtml/empty|0\nhtml/sub/x.css|20\n3\n")
    }

    @Test func rejectsOtherFormatVersionsAndGarbage() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var m = meta()
        m.formatVersion = 99
        let path = dir.appendingPathComponent("m.sqlite").path
        try Data(try ManifestWriter.encode(tree: sampleTree(), metadata: m)).write(to: URL(fileURLWithPath: path))
        #expect(throws: ManifestError.self) { try Manifest(path: path, digest: Digest.sha256([0])) }
        let junk = dir.appendingPathComponent("junk.sqlite").path
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: junk))
        #expect(throws: (any Error).self) { try Manifest(path: junk, digest: Digest.sha256([0])) }
    }

    @Test func contentTypes() {
        #expect(ContentTypes.forPath("html/index.html") == "text/html; charset=utf-8")
        #expect(ContentTypes.forPath("a/b.WOFF2") == "font/woff2")
        #expect(ContentTypes.forPath("Makefile") == "application/octet-stream")
        #expect(ContentTypes.forPath(".hidden") == "application/octet-stream")
        #expect(ContentTypes.forPath("a/.hidden") == "application/octet-stream")
        #expect(ContentTypes.forPath("a.css/Makefile") == "application/octet-stream")
        #expect(ContentTypes.forPath("a/b.") == "application/octet-stream")
        #expect(ContentTypes.forPath("a/b.tar.GZ") == "application/gzip")
        #expect(ContentTypes.forPath("ü/b.Ü.html") == "text/html; charset=utf-8")
        #expect(ContentTypes.forPath("a/b.ÜNKNOWN") == "application/octet-stream")
    }
}

@Suite struct ManifestCodecTests {
    @Test func roundTripAndVerification() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-mc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sqlite = try ManifestWriter.encode(tree: ManifestTests().sampleTree(), metadata: ManifestTests().meta())
        let digest = Digest.sha256(sqlite)
        let object = try ManifestCodec.encode(sqlite)
        #expect(object.count < sqlite.count / 2)
        #expect(try ManifestCodec.decode(object, digest: digest, name: "m") == sqlite)
        #expect(try ManifestCodec.decode(sqlite, digest: digest, name: "m") == sqlite) // plain SQLite accepted
        #expect(throws: ManifestError.self) { try ManifestCodec.decode(object, digest: Digest.sha256([1]), name: "m") }
        var flipped = object
        flipped[flipped.count / 2] ^= 0x40
        #expect(throws: ManifestError.self) { try ManifestCodec.decode(flipped, digest: nil, name: "m") } // frame checksum
        #expect(throws: ManifestError.self) { try ManifestCodec.decode(Array("garbage".utf8), digest: nil, name: "m") }
    }
}

@Suite struct TreeDigestTests {
    /// The tree digest is compared with digests recorded in earlier manifests (an unchanged republish
    /// writes nothing): however it is hashed, it stays SHA-256 over the same per-entry lines.
    @Test func sameLinesAsEver() {
        var records: [FileRecord] = []
        for i in 0..<3_000 { // more than one 64 KiB hashing buffer
            records.append(FileRecord(path: "html/dir\(i % 17)/page-\(i)-ü.html", kind: i % 9 == 0 ? .symlink : .file, size: i * 1_000_003,
                                      mode: 0o644, contentType: nil, digest: i % 9 == 0 ? nil : Digest.sha256(Array("f\(i)".utf8)),
                                      linkTarget: i % 9 == 0 ? "target-\(i)" : nil))
        }
        var h = SHA256Hasher()
        for r in records {
            var line: [UInt8] = Array(r.path.utf8) + [0] + Array(r.kind.rawValue.utf8) + [0]
            withUnsafeBytes(of: UInt64(r.size).littleEndian) { line += $0 }
            withUnsafeBytes(of: UInt32(r.mode).littleEndian) { line += $0 }
            if let d = r.digest { line += d.bytes }
            line += Array((r.linkTarget ?? "").utf8) + [0]
            h.update(line)
        }
        let want = h.finalize()
        #expect(TreeDigest.compute(records) == want)
        #expect(TreeDigest.compute([FileRecord]()) == Digest.sha256([UInt8]()))
    }
}
