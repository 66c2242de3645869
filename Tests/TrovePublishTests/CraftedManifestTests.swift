import Foundation
import Testing
import TroveContent
import TroveGC
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// A store is written by builds that run a project's own code, so a manifest is untrusted input: a
/// valid SQLite file stored under its own digest passes the digest check. These tests rewrite a real
/// manifest with SQL, as such a build could, store it under its digest and switch the version to it;
/// every read path must then fail cleanly naming the manifest (exit 1 / 502), never trap, never write
/// outside an export's destination and never hand out wrong bytes.
@Suite struct CraftedManifestTests {
    static let files: [String: [UInt8]] = [
        "html/index.html": Array(page(1, date: "a").utf8),
        "html/a.html": Array(page(2, date: "b").utf8),
        "html/evil/x.html": Array("<html>x</html>\n".utf8),
        "pdf/manual.pdf": pseudoRandom(200 << 10, seed: 4),
    ]

    /// A published version `p/v` of `files`.
    func published() async throws -> (Fixture, String) {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for (p, b) in Self.files { try fx.write(tree, p, b) }
        _ = try await fx.publish("p", "v", tree)
        return (fx, tree)
    }

    /// Rewrites the live manifest of `p/v` with `sql`, stores it under its digest and switches to it.
    @discardableResult
    static func craft(_ fx: Fixture, _ sql: String) async throws -> Digest {
        let live = try await fx.repository.openVersion("p", "v")
        let copy = fx.root.appendingPathComponent("craft-\(UUID().uuidString).sqlite").path
        try FileManager.default.copyItem(atPath: fx.root.appendingPathComponent("cache/manifests/\(live.digest.hex).sqlite").path, toPath: copy)
        do {
            let db = try SQLiteDatabase(path: copy, mode: .readWriteCreate)
            try db.execute(sql)
        }
        return try await install(fx, try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy))))
    }

    /// Stores SQLite bytes as a manifest under their digest and switches `p/v` to it.
    static func install(_ fx: Fixture, _ sqlite: [UInt8]) async throws -> Digest {
        let d = Digest.sha256(sqlite)
        try await fx.repository.store.put(StoreLayout.manifest(d), try ManifestCodec.encode(sqlite))
        try await fx.repository.switchVersion("p", "v", to: d, published: "2026-01-01T00:00:00Z")
        return d
    }

    /// What `trove cat` does.
    static func cat(_ repo: Repository, _ path: String) async throws -> [UInt8] {
        let m = try await repo.openVersion("p", "v")
        guard let f = try m.file(at: path), f.kind == .file else { throw RepositoryError.noSuchFile("p", "v", path) }
        return try await ChunkReader(repository: repo).read(try m.chunks(of: f))
    }

    static func export(_ fx: Fixture) async throws -> String {
        let dest = fx.root.appendingPathComponent("sandbox-\(UUID().uuidString)/out").path
        _ = try await Exporter(repository: fx.repository).export(try await fx.repository.openVersion("p", "v"), to: dest)
        return dest
    }

    static func deepVerifyProblems(_ fx: Fixture) async throws -> [String] {
        try await Verifier(repository: fx.repository, deep: true).run().problems.map(\.description)
    }

    /// Item 1: out-of-range chunk rows and modes (each used to trap: SIGILL in serve, cat, export, verify).
    @Test(arguments: [
        "UPDATE chunks SET pack_offset = -100",
        "UPDATE chunks SET stored_size = -1",
        "UPDATE chunks SET stored_size = 4294967296",
        "UPDATE chunks SET raw_size = 4294967296",
        "UPDATE chunks SET codec = 300",
        "UPDATE files SET mode = -1 WHERE kind = 'file'",
        "UPDATE files SET size = -5 WHERE path = 'html/a.html'",
        "UPDATE files SET path = 'html/a\u{1}.html' WHERE path = 'html/a.html'",
        "UPDATE files SET main_digest = X'0102' WHERE kind = 'file'",
    ])
    func outOfRangeRowsAreAnErrorNamingTheManifest(_ sql: String) async throws {
        let (fx, _) = try await published()
        let d = try await Self.craft(fx, sql)
        var failures = 0
        for path in ["html/a.html", "pdf/manual.pdf"] {
            do { _ = try await Self.cat(fx.repository, path) } catch let e as ManifestError {
                #expect(e.description.contains(d.hex), "\(e)")
                failures += 1
            } catch RepositoryError.noSuchFile { failures += 1 } // the renamed path
        }
        #expect(failures >= 1, "cat read a manifest with \(sql)")
        await #expect(throws: ManifestError.self, "export with \(sql)") { _ = try await Self.export(fx) }
        let problems = try await Self.deepVerifyProblems(fx)
        #expect(problems.contains { $0.contains(d.hex) }, "\(sql): \(problems)")
    }

    /// Item 2: a path that climbs out of the destination.
    @Test func exportRefusesAPathWithDotDot() async throws {
        let (fx, _) = try await published()
        let d = try await Self.craft(fx, "UPDATE files SET path = 'html/../../../../PWNED' WHERE path = 'html/a.html'")
        let sandbox = fx.root.appendingPathComponent("sandbox").path
        let dest = sandbox + "/a/b/out"
        await #expect(throws: ManifestError.self) {
            _ = try await Exporter(repository: fx.repository).export(try await fx.repository.openVersion("p", "v"), to: dest)
        }
        for dir in [fx.root.path, sandbox, sandbox + "/a", sandbox + "/a/b"] {
            #expect(!FileManager.default.fileExists(atPath: dir + "/PWNED"))
        }
        #expect(try await Self.deepVerifyProblems(fx).contains { $0.contains(d.hex) && $0.contains("'..'") })
    }

    /// Item 2: a symlink entry, then a file "below" it, must never be written through the link.
    @Test(arguments: ["/somewhere", "../pdf"])
    func exportNeverWritesThroughASymlinkEntry(_ target: String) async throws {
        let (fx, _) = try await published()
        let d = try await Self.craft(fx, "UPDATE files SET kind = 'symlink', link_target = '\(target)', mode = 511 WHERE path = 'html/evil'")
        await #expect(throws: ManifestError.self) { _ = try await Self.export(fx) }
        #expect(!FileManager.default.fileExists(atPath: fx.root.appendingPathComponent("pdf/x.html").path))
        #expect(try await Self.deepVerifyProblems(fx).contains { $0.contains(d.hex) })
    }

    /// Links that are each lexically inside but, followed through one another as a file system (or a
    /// web server serving the export) follows them, lead out: refused, not exported.
    @Test func exportRefusesALinkChainThatLeavesTheTree() async throws {
        let (fx, _) = try await published()
        let d = try await Self.craft(fx, """
            INSERT INTO files(path, kind, size, mode, link_target) VALUES ('html/evil/b', 'symlink', 2, 511, '..');
            INSERT INTO files(path, kind, size, mode, link_target) VALUES ('html/s', 'symlink', 30, 511, 'evil/b/evil/b/../../../../etc/passwd');
            """)
        await #expect(throws: ManifestError.self) { _ = try await Self.export(fx) }
        #expect(try await Self.deepVerifyProblems(fx).contains { $0.contains(d.hex) && $0.contains("leads out of the tree") })
        // A loop goes nowhere: not an escape, exported as links.
        let (fx2, _) = try await published()
        try await Self.craft(fx2, """
            INSERT INTO files(path, kind, size, mode, link_target) VALUES ('html/l1', 'symlink', 2, 511, 'l2');
            INSERT INTO files(path, kind, size, mode, link_target) VALUES ('html/l2', 'symlink', 2, 511, 'l1');
            """)
        let dest = try await Self.export(fx2)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dest + "/html/l1") == "l2")
    }

    /// Item 2, beneath the manifest checks: a symlink already in the destination is not followed.
    @Test func exportDoesNotFollowASymlinkInTheDestination() async throws {
        let (fx, _) = try await published()
        let dest = fx.dir("dest"), elsewhere = fx.dir("elsewhere")
        try FileManager.default.createSymbolicLink(atPath: dest + "/html", withDestinationPath: elsewhere)
        await #expect(throws: ExportError.self) {
            _ = try await Exporter(repository: fx.repository).export(try await fx.repository.openVersion("p", "v"), to: dest)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
    }

    /// Item 2: setuid, setgid and sticky bits are never restored.
    @Test func exportMasksModesTo0777() async throws {
        let (fx, _) = try await published()
        try await Self.craft(fx, "UPDATE files SET mode = 3565 WHERE path = 'html/a.html'; UPDATE files SET mode = 1023 WHERE path = 'html/evil'") // 06755, 01777
        let dest = try await Self.export(fx)
        let fm = FileManager.default
        #expect(try fm.attributesOfItem(atPath: dest + "/html/a.html")[.posixPermissions] as? Int == 0o755)
        #expect(try fm.attributesOfItem(atPath: dest + "/html/evil")[.posixPermissions] as? Int == 0o777)
    }

    /// Item 5: a file's chunk list edited (a row deleted, or pointed at another file's chunk) or its
    /// size understated: cat, export and verify --deep fail instead of handing out other bytes.
    @Test(arguments: [
        "DELETE FROM file_chunks WHERE file_id = (SELECT id FROM files WHERE path = 'pdf/manual.pdf') AND seq = (SELECT max(seq) FROM file_chunks WHERE file_id = (SELECT id FROM files WHERE path = 'pdf/manual.pdf'))",
        "UPDATE file_chunks SET chunk_id = (SELECT chunk_id FROM file_chunks WHERE file_id = (SELECT id FROM files WHERE path = 'html/index.html') AND seq = 0) WHERE file_id = (SELECT id FROM files WHERE path = 'pdf/manual.pdf') AND seq = 0",
        "UPDATE files SET size = size - 100 WHERE path = 'pdf/manual.pdf'",
        "UPDATE file_chunks SET chunk_id = 99999 WHERE file_id = (SELECT id FROM files WHERE path = 'pdf/manual.pdf') AND seq = 1",
    ])
    func editedChunkListsNeverGiveWrongBytes(_ sql: String) async throws {
        let (fx, _) = try await published()
        let d = try await Self.craft(fx, sql)
        await #expect(throws: ManifestError.self, "cat with \(sql)") { _ = try await Self.cat(fx.repository, "pdf/manual.pdf") }
        await #expect(throws: ManifestError.self) { _ = try await Self.export(fx) }
        #expect(try await Self.deepVerifyProblems(fx).contains { $0.contains(d.hex) })
        // The untouched file still reads.
        #expect(try await Self.cat(fx.repository, "html/index.html") == Self.files["html/index.html"])
    }

    /// Item 4: a manifest whose zstd frame declares 4 GiB is refused before anything is allocated.
    @Test func aFrameDeclaringGigabytesIsRefusedAtOnce() async throws {
        let (fx, _) = try await published()
        let frame = Self.frame(declaring: 4 << 30)
        let d = Digest.sha256(frame)
        try await fx.repository.store.put(StoreLayout.manifest(d), frame)
        try await fx.repository.switchVersion("p", "v", to: d, published: "2026-01-01T00:00:00Z")
        do {
            _ = try await fx.repository.openVersion("p", "v")
            Issue.record("opened a manifest declaring 4 GiB")
        } catch {
            #expect("\(error)".contains("more than the 256 MiB"), "\(error)")
        }
    }

    /// A zstd frame header declaring `size` bytes of content, then one RLE block of 1000 bytes.
    static func frame(declaring size: UInt64) -> [UInt8] {
        var out: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xE0] // magic; 8-byte content size, single segment
        withUnsafeBytes(of: size.littleEndian) { out += $0 }
        let block = UInt32(1) | UInt32(1) << 1 | UInt32(1000) << 3 // last, RLE, 1000 bytes
        out += [UInt8(block & 0xFF), UInt8(block >> 8 & 0xFF), UInt8(block >> 16 & 0xFF), 0x41]
        return out
    }
}

@Suite struct ManifestDecompressionCapTests {
    /// Decompression stops at the cap whether or not the frame declares its size.
    @Test func decompressionStopsAtTheLimit() throws {
        let sqlite = Array("SQLite format 3\u{0}".utf8) + [UInt8](repeating: 7, count: 3 << 20)
        let declared = try ManifestCodec.encode(sqlite)
        #expect(try ManifestCodec.decode(declared, digest: Digest.sha256(sqlite), name: "m", limit: sqlite.count) == sqlite)
        #expect(throws: ManifestError.self) { try ManifestCodec.decode(declared, digest: nil, name: "m", limit: sqlite.count - 1) }
        // Without a declared size: a frame header without content size, decoded by streaming.
        let undeclared = CraftedManifestTests.frame(declaring: 0).prefix(4) + [0x00, 0x50] // no FCS, window 2^(10+10)
            + Self.rleBlocks(total: 3 << 20)
        #expect(try ManifestCodec.decode(Array(undeclared), digest: nil, name: "m", limit: 3 << 20).count == 3 << 20)
        #expect(throws: ManifestError.self) { try ManifestCodec.decode(Array(undeclared), digest: nil, name: "m", limit: (3 << 20) - 1) }
    }

    /// RLE blocks of at most 128 KiB producing `total` bytes of 'A'; the last one marked last.
    static func rleBlocks(total: Int) -> [UInt8] {
        var out: [UInt8] = []
        var left = total
        while left > 0 {
            let n = min(left, 128 << 10)
            left -= n
            let h = UInt32(left == 0 ? 1 : 0) | UInt32(1) << 1 | UInt32(n) << 3
            out += [UInt8(h & 0xFF), UInt8(h >> 8 & 0xFF), UInt8(h >> 16 & 0xFF), 0x41]
        }
        return out
    }
}
