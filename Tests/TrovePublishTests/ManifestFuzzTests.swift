import Foundation
import Testing
import TroveTesting
import TroveContent
import TroveGC
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// Fuzzes the manifest reader with random mutations of a real manifest — bytes of the SQLite file
/// flipped, or rows rewritten with SQL to hostile values — each stored under its own digest (so the
/// digest check passes, as for a manifest a build wrote) and read through what `cat`, `export` and
/// `verify --deep` run. Properties: no trap (the process survives), every failure is an error of the
/// read path's own kinds, a read that succeeds returns exactly the bytes of a file that was published
/// (never truncated, never another file's, never a chunk list whose sizes exceed the caps), and an
/// export never writes outside its destination nor leaves a link that leads out of it.
///
/// Bounded for CI: `TROVE_FUZZ_ITERATIONS` (default 300) iterations from a fixed seed
/// (`TROVE_FUZZ_SEED`), printed with the outcome counts.
@Suite struct ManifestFuzzTests {
    struct Counts: CustomStringConvertible {
        var iterations = 0, byteMutations = 0, sqlMutations = 0, refusedAtOpen = 0, opened = 0
        var filesRead = 0, readsRefused = 0, exports = 0, exportsRefused = 0, validated = 0, validationsRefused = 0
        var verifies = 0, verifyProblems = 0
        var description: String {
            "\(iterations) iterations (\(byteMutations) byte, \(sqlMutations) SQL mutations): \(refusedAtOpen) refused at open, \(opened) opened; "
                + "\(filesRead) files read / \(readsRefused) refused; \(exports) exports / \(exportsRefused) refused; "
                + "validate \(validated) ok / \(validationsRefused) refused; verify --deep \(verifies) runs, \(verifyProblems) with problems"
        }
    }

    static let hostileValues = [
        "-1", "0", "1", "2147483648", "4294967296", "4611686018427387904", "-9223372036854775808", "9223372036854775807",
        "NULL", "''", "'x'", "X'00'", "randomblob(32)", "randomblob(31)", "'../x'", "'/etc/passwd'", "'a//b'", "'.'", "'html'",
        "'html/index.html'", "'html/sub/x'", "'..'", "'html/../../../../PWNED'", "char(97, 0, 98)", "'symlink'", "'dir'", "'file'",
        "3", "2", "4095", "268435456", "67108865", "65536", "'2026'",
    ]
    static let columns: [(table: String, columns: [String])] = [
        ("chunks", ["raw_size", "stored_size", "codec", "pack_offset", "pack_id", "dictionary_id", "digest", "id"]),
        ("files", ["path", "kind", "size", "mode", "digest", "link_target", "content_type", "id"]),
        ("file_chunks", ["seq", "file_offset", "chunk_id", "file_id"]),
        ("packs", ["digest", "id"]),
        ("dictionaries", ["digest", "id"]),
        ("meta", ["value"]),
    ]

    static func sqlMutation(_ rng: inout SplitMix) -> String {
        let (table, cols) = columns[Int(rng.next() % UInt64(columns.count))]
        let rowFilter = rng.next() % 4 == 0 ? "" : " WHERE rowid IN (SELECT rowid FROM \(table) ORDER BY random() LIMIT \(1 + rng.next() % 3))"
        switch rng.next() % 10 {
        case 0:
            return "DELETE FROM \(table)\(rowFilter.isEmpty ? " WHERE rowid IN (SELECT rowid FROM \(table) ORDER BY random() LIMIT 1)" : rowFilter)"
        case 1:
            var v: [String] = []
            for _ in 0..<5 { v.append(hostileValues[Int(rng.next() % UInt64(hostileValues.count))]) }
            let kind = ["'file'", "'dir'", "'symlink'"][Int(rng.next() % 3)]
            return "INSERT INTO files(path, kind, size, mode, digest, link_target) VALUES (\(v[0]), \(kind), \(v[1]), \(v[2]), \(v[3]), \(v[4]))"
        default:
            let col = cols[Int(rng.next() % UInt64(cols.count))]
            let value = hostileValues[Int(rng.next() % UInt64(hostileValues.count))]
            return "UPDATE \(table) SET \(col) = \(value)\(rowFilter)"
        }
    }

    @Test func mutatedManifestsNeverTrapEscapeOrLie() async throws {
        let env = ProcessInfo.processInfo.environment
        let iterations = env["TROVE_FUZZ_ITERATIONS"].flatMap(Int.init) ?? 300
        let seed = env["TROVE_FUZZ_SEED"].flatMap(UInt64.init) ?? 0x7472_6f76_6566_757a
        let fx = try Fixture()
        let tree = fx.dir("tree")
        var originals: [String: [UInt8]] = [
            "html/index.html": Array(page(1, date: "a").utf8), "html/sub/a.html": Array(page(2, date: "b").utf8),
            "html/sub/deeper/b.html": Array(page(3, date: "c").utf8), "html/empty.txt": [],
            "pdf/manual.pdf": pseudoRandom(150 << 10, seed: 11), "bin/tool": pseudoRandom(3000, seed: 12),
        ]
        for (p, b) in originals { try fx.write(tree, p, b, mode: p == "bin/tool" ? 0o755 : 0o644) }
        try FileManager.default.createSymbolicLink(atPath: tree + "/html/latest.html", withDestinationPath: "sub/a.html")
        // A memory store: hundreds of fsync'ing writes would queue on the blocking-I/O pool the whole
        // test process shares (other tests' publish leases renew through it).
        let repository = Repository(store: MemoryBlobStore(), cacheDirectory: fx.root.appendingPathComponent("fuzz-cache"))
        var o = PublishOptions()
        o.packSize = 64 << 10 // several packs
        o.buildTime = Date(timeIntervalSince1970: 1_700_000_000)
        _ = try await Publisher(repository: repository, options: o).publish(project: "p", version: "v", from: tree)
        let live = try await repository.openVersion("p", "v")
        let real = try [UInt8](Data(contentsOf: URL(fileURLWithPath: fx.root.appendingPathComponent("fuzz-cache/manifests/\(live.digest.hex).sqlite").path)))
        originals["html/latest.html"] = nil
        let published = Set(originals.values.map { Digest.sha256($0) })
        let scratch = fx.dir("scratch"), sandbox = fx.dir("sandbox")
        let rootListing = Set(try FileManager.default.contentsOfDirectory(atPath: fx.root.path))

        var rng = SplitMix(seed: seed)
        var n = Counts()
        for i in 0..<iterations {
            n.iterations += 1
            // Mutate a copy of the real manifest.
            var bytes = real
            if rng.next() % 3 == 0 {
                n.byteMutations += 1
                for _ in 0..<(1 + rng.next() % 8) {
                    let at = 100 + Int(rng.next() % UInt64(bytes.count - 100))
                    bytes[at] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8)) | UInt8(truncatingIfNeeded: rng.next() % 2 == 0 ? 0 : rng.next())
                }
            } else {
                n.sqlMutations += 1
                let path = scratch + "/m\(i).sqlite"
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                do {
                    let db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
                    for _ in 0..<(1 + rng.next() % 3) { try? db.execute(Self.sqlMutation(&rng)) }
                }
                bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                try? FileManager.default.removeItem(atPath: path)
            }
            let digest = Digest.sha256(bytes)
            try await repository.store.put(StoreLayout.manifest(digest), try ManifestCodec.encode(bytes))

            // Open (what every command does first).
            let m: Manifest
            do { m = try await repository.manifest(digest) } catch {
                try expectReadError(error, "open, iteration \(i)")
                n.refusedAtOpen += 1
                continue
            }
            n.opened += 1

            // cat of every listed file (or, when listing fails, the published paths).
            let paths = (try? m.list().filter { $0.kind == .file }.map(\.path)) ?? Array(originals.keys)
            for p in paths.prefix(12) {
                do {
                    guard let f = try m.file(at: p), f.kind == .file else { continue }
                    let chunks = try m.chunks(of: f)
                    #expect(chunks.allSatisfy { $0.location.rawSize <= ManifestLimits.maxChunkBytes && $0.location.storedSize <= ZstdCompressor.bound(ManifestLimits.maxChunkBytes) })
                    let out = try await ChunkReader(repository: repository).read(chunks)
                    #expect(out.count == f.size && published.contains(Digest.sha256(out)),
                            "iteration \(i) (seed \(seed)): cat \(p) returned \(out.count) bytes that were never published")
                    n.filesRead += 1
                } catch {
                    try expectReadError(error, "cat \(p), iteration \(i)")
                    n.readsRefused += 1
                }
            }

            // export into a fresh destination inside the sandbox.
            let dest = sandbox + "/\(i)/out"
            do {
                _ = try await Exporter(repository: repository).export(m, to: dest)
                n.exports += 1
                try checkExport(dest, published: published, iteration: i)
            } catch {
                try expectReadError(error, "export, iteration \(i)")
                n.exportsRefused += 1
            }
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: sandbox + "/\(i)")) ?? []).allSatisfy { $0 == "out" }, "iteration \(i): export wrote beside its destination")
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: fx.root.path)) == rootListing, "iteration \(i): something appeared above the sandbox")
            Self.remove(sandbox + "/\(i)")

            // verify --deep's per-manifest check; every 25th mutation the whole deep verify through the ref.
            do { try m.validate(); n.validated += 1 } catch {
                try expectReadError(error, "validate, iteration \(i)")
                n.validationsRefused += 1
            }
            if i % 25 == 0 {
                try await repository.switchVersion("p", "v", to: digest, published: "2026-01-01T00:00:00Z")
                let r = try await Verifier(repository: repository, deep: true).run()
                n.verifies += 1
                if !r.ok { n.verifyProblems += 1 }
            }
        }
        print("manifest fuzz (seed \(seed)): \(n)")
        #expect(n.opened > 0 && n.readsRefused > 0 && n.filesRead > 0)
    }

    /// The errors a read path may end with on a bad manifest: never anything else (and never a trap).
    func expectReadError(_ error: any Error, _ what: String) throws {
        switch error {
        case is ManifestError, is RepositoryError, is ExportError: return
        default: Issue.record("\(what): unexpected error \(type(of: error)): \(error)")
        }
    }

    /// Every regular file exported holds bytes that were published; every symlink stays inside; no
    /// setuid, setgid or sticky bit anywhere.
    func checkExport(_ dest: String, published: Set<Digest>, iteration i: Int) throws {
        var links: [String: String] = [:]
        Self.walk(dest) { rel, full, st in
            #expect(st.st_mode & 0o7000 == 0, "iteration \(i): \(rel) has mode \(String(st.st_mode, radix: 8))")
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                let bytes = (try? [UInt8](Data(contentsOf: URL(fileURLWithPath: full)))) ?? []
                #expect(published.contains(Digest.sha256(bytes)), "iteration \(i): exported \(rel) holds bytes never published")
            case S_IFLNK:
                links[rel] = (try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "/"
            case S_IFDIR:
                break
            default:
                Issue.record("iteration \(i): \(rel) is neither file, directory nor link")
            }
        }
        for (link, target) in links {
            #expect(!ManifestPath.leavesTree(link: link, target: target, through: links), "iteration \(i): \(link) -> \(target) leads out of the export")
        }
    }

    /// Visits everything below `root` (lstat, never following links), making each directory readable
    /// and searchable before descending: an export may have left directories with mode 000.
    static func walk(_ root: String, _ visit: (String, String, stat) -> Void) {
        func descend(_ rel: String) {
            let dir = rel.isEmpty ? root : root + "/" + rel
            chmod(dir, 0o700)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] {
                let r = rel.isEmpty ? name : rel + "/" + name
                var st = stat()
                guard lstat(root + "/" + r, &st) == 0 else { continue }
                visit(r, root + "/" + r, st)
                if st.st_mode & S_IFMT == S_IFDIR { descend(r) }
            }
        }
        descend("")
    }

    /// Removes a tree whose directories an export may have left without write or search permission.
    static func remove(_ path: String) {
        walk(path) { _, _, _ in }
        try? FileManager.default.removeItem(atPath: path)
    }
}
