import Testing
import TroveContent
import TroveManifest

/// Golden values that pin the manifest format (docs/storage-format.md): the tree digest of a fixed
/// tiny tree and the digest of its manifest. Manifest bytes are deterministic for the same rows and
/// metadata (Trove lays out the SQLite pages itself), and the metadata's one moving part, the build
/// time, is fixed here. These fail when the tree-digest rule, the schema, the row order or the page
/// layout change: a manifest's digest is its name in every store. The tree digest was cross-checked
/// with a separate reading of the documented rule (Python's hashlib and struct).
@Suite struct ManifestGoldenTests {
    static let pack = Digest.sha256(Array("pack".utf8))

    /// A directory, a file of two chunks, an empty file and a link.
    static let tree: [(FileRecord, [ChunkRef])] = {
        let one = ChunkRef(digest: Digest.sha256(Array("chunk one".utf8)),
                           location: ChunkLocation(pack: pack, offset: 0, storedSize: 7, rawSize: 9, codec: .zstd, dictionary: nil))
        let two = ChunkRef(digest: Digest.sha256(Array("chunk two".utf8)),
                           location: ChunkLocation(pack: pack, offset: 7, storedSize: 9, rawSize: 9, codec: .raw, dictionary: nil))
        return [
            (FileRecord(path: "html", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), []),
            (FileRecord(path: "html/empty.txt", kind: .file, size: 0, mode: 0o644, contentType: "text/plain; charset=utf-8",
                        digest: Digest.file(chunks: []), linkTarget: nil), []),
            (FileRecord(path: "html/index.html", kind: .file, size: 18, mode: 0o644, contentType: "text/html; charset=utf-8",
                        digest: Digest.file(chunks: [one.digest, two.digest]), linkTarget: nil), [one, two]),
            (FileRecord(path: "html/latest.html", kind: .symlink, size: 10, mode: 0o777, contentType: nil, digest: nil,
                        linkTarget: "index.html"), []),
        ]
    }()

    static var metadata: ManifestMetadata {
        var m = ManifestMetadata(project: "docs", version: "latest", buildTime: "2026-01-01T00:00:00Z", toolVersion: "golden",
                                 chunker: .default, dictionary: nil)
        m.treeDigest = TreeDigest.compute(tree.map(\.0))
        return m
    }

    @Test func treeDigestOfATinyTree() {
        #expect(TreeDigest.compute(Self.tree.map(\.0)).hex == "67b4f611d1fd3d65b6f6a0954e2c118bb7cee91565ff9d9516cd22ec86e73039")
    }

    @Test func manifestDigestOfATinyTree() throws {
        let sqlite = try ManifestWriter.encode(tree: Self.tree, metadata: Self.metadata)
        #expect(sqlite.count == 32768) // eight 4096-byte pages
        // Manifest format 2 (files.main_digest, issue 16) with the meta key main_content_selectors;
        // format 2 without that key wrote 4cc1aead297c…, format 1 wrote 35637dbb22de….
        #expect(Digest.sha256(sqlite).hex == "116ee26b753f478feaccba29b8768e986febf20894ca521861e651124026d926")
    }
}
