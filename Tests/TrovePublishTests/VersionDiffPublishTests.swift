import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// `VersionDiff` on real trees: published through the real publisher to a local store, compared from
/// the two manifests (`Repository.diff`), main-content digests recorded at publish.
@Suite struct VersionDiffPublishTests {
    /// A Sphinx-like page: sidebar and footer date around `<div class="body" role="main">`.
    static func sphinxPage(_ i: Int, date: String, edit: String = "") -> String {
        """
        <!DOCTYPE html><html><head><meta charset="utf-8"><title>Page \(i)</title>
        <script>var DOCUMENTATION_OPTIONS = {"VERSION": "\(date)"};</script></head>
        <body><div class="document"><div class="sphinxsidebar" role="navigation"><a href="index.html">Home</a>
        <p>Last updated: \(date)</p></div>
        <div class="body" role="main"><section id="s\(i)"><h1>Section \(i)</h1><div class="highlight"><pre>code \(i)</pre></div>
        <p>\(String(repeating: "Body text of page \(i). ", count: 40 + i % 7))\(edit)</p></section></div></div>
        <div class="footer">&#169; Copyright 2026. Last updated on \(date).</div></body></html>
        """
    }

    /// A build tree of `pages` Sphinx-like pages dated `date`, plus chrome that does not change.
    func tree(_ fx: Fixture, _ name: String, pages: Int = 30, date: String, edits: [Int: String] = [:]) throws -> String {
        let t = fx.dir(name)
        for i in 0..<pages { try fx.write(t, "html/topics/page-\(i).html", VersionDiffPublishTests.sphinxPage(i, date: date, edit: edits[i] ?? "")) }
        try fx.write(t, "html/_static/basic.css", String(repeating: "div.body { min-width: 360px; }\n", count: 200))
        try fx.write(t, "pdf/manual.pdf", pseudoRandom(64 << 10, seed: 3))
        return t
    }

    @Test func footerDateOnlyRebuildChangesNoMainContent() async throws {
        let fx = try Fixture()
        _ = try await fx.publish("docs", "v1", try tree(fx, "b1", date: "Dec 04, 2024"))
        _ = try await fx.publish("docs", "v2", try tree(fx, "b2", date: "Dec 11, 2024"))
        let d = try await fx.repository.diff("docs", base: "v1", head: "v2")
        #expect(d.added.isEmpty && d.deleted.isEmpty && d.renamed.isEmpty)
        #expect(d.modified.count == 30)
        #expect(d.modified.allSatisfy { $0.path.hasPrefix("html/topics/page-") && $0.mainContentChanged == false }, "\(d.modified)")
        #expect(d.mainContentChangedCount == 0 && d.mainContentCompared)
        // Every HTML page of the build carries a main-content digest, nothing else does.
        let m = try await fx.repository.openVersion("docs", "v2")
        for r in try m.list() where r.kind == .file {
            #expect((r.mainContentDigest != nil) == r.path.hasSuffix(".html"), "\(r.path)")
        }
    }

    @Test func onePageEditChangesExactlyThatPage() async throws {
        let fx = try Fixture()
        _ = try await fx.publish("docs", "v1", try tree(fx, "b1", date: "Dec 04, 2024"))
        _ = try await fx.publish("docs", "v2", try tree(fx, "b2", date: "Dec 04, 2024", edits: [17: "An edited sentence."]))
        let d = try await fx.repository.diff("docs", base: "v1", head: "v2")
        #expect(d == VersionDiff(base: "v1", head: "v2", modified: [.init(path: "html/topics/page-17.html", mainContentChanged: true)]))
        // The same edit in a rebuild that also changed every date: still exactly one page.
        _ = try await fx.publish("docs", "v3", try tree(fx, "b3", date: "Dec 11, 2024", edits: [17: "An edited sentence."]))
        let both = try await fx.repository.diff("docs", base: "v1", head: "v3")
        #expect(both.modified.count == 30)
        #expect(both.modified.filter { $0.mainContentChanged == true }.map(\.path) == ["html/topics/page-17.html"])
    }

    @Test func addedDeletedAndRenamedPages() async throws {
        let fx = try Fixture()
        let b1 = try tree(fx, "b1", pages: 5, date: "d")
        _ = try await fx.publish("docs", "v1", b1)
        let b2 = try tree(fx, "b2", pages: 5, date: "d")
        try FileManager.default.removeItem(atPath: b2 + "/html/topics/page-1.html")
        try FileManager.default.moveItem(atPath: b2 + "/html/topics/page-3.html", toPath: b2 + "/html/topics/moved.html")
        try fx.write(b2, "html/topics/new.html", VersionDiffPublishTests.sphinxPage(99, date: "d"))
        _ = try await fx.publish("docs", "v2", b2)
        let d = try await fx.repository.diff("docs", base: "v1", head: "v2")
        #expect(d.added == ["html/topics/new.html"])
        #expect(d.deleted == ["html/topics/page-1.html"])
        #expect(d.renamed == [.init(from: "html/topics/page-3.html", to: "html/topics/moved.html")])
        #expect(d.modified.isEmpty)
        // Reversed, each list swaps sides.
        let back = try await fx.repository.diff("docs", base: "v2", head: "v1")
        #expect(back.added == d.deleted && back.deleted == d.added && back.renamed == [.init(from: "html/topics/moved.html", to: "html/topics/page-3.html")])
        #expect(try await fx.repository.diff("docs", base: "v2", head: "v2").isEmpty)
    }

    /// A version published before main-content digests (format 1: no `files.main_digest` column) still
    /// reads; its diff falls back to file digests and says so (`mainContentChanged` nil throughout).
    @Test func formatOneManifestGivesNullFlags() async throws {
        let fx = try Fixture()
        _ = try await fx.publish("docs", "v1", try tree(fx, "b1", date: "Dec 04, 2024"))
        _ = try await fx.publish("docs", "v2", try tree(fx, "b2", date: "Dec 11, 2024", edits: [2: "edited"]))
        let old = try await VersionDiffPublishTests.downgradeToFormatOne(fx, "docs", "v1")
        #expect(!old.metadata.hasMainContentDigests)
        #expect(try old.list().allSatisfy { $0.mainContentDigest == nil })
        let d = try await fx.repository.diff("docs", base: "v1", head: "v2")
        #expect(d.modified.count == 30 && d.modified.allSatisfy { $0.mainContentChanged == nil })
        #expect(!d.mainContentCompared)
        // A format-1 manifest is still fully readable: every file exports byte for byte.
        #expect(try fx.identical(try await fx.export("docs", "v1"), fx.root.appendingPathComponent("b1").path))
    }

    /// Rewrites the live manifest of `project/version` as format 1 wrote it (no `main_digest` column, the
    /// version-1 `file_list` view, `format_version` 1), stores it under its digest and switches to it.
    static func downgradeToFormatOne(_ fx: Fixture, _ project: String, _ version: String) async throws -> Manifest {
        let live = try await fx.repository.openVersion(project, version)
        let copy = fx.root.appendingPathComponent("v1-\(UUID().uuidString).sqlite").path
        try FileManager.default.copyItem(atPath: fx.root.appendingPathComponent("cache/manifests/\(live.digest.hex).sqlite").path, toPath: copy)
        do {
            let db = try SQLiteDatabase(path: copy, mode: .readWriteCreate)
            try db.execute("""
                DROP VIEW file_list;
                ALTER TABLE files DROP COLUMN main_digest;
                CREATE VIEW file_list AS
                    SELECT path, kind, size, printf('%o', mode) AS mode, content_type, lower(hex(digest)) AS digest, link_target
                    FROM files ORDER BY path;
                UPDATE meta SET value = '1' WHERE key = 'format_version';
                VACUUM;
                """)
        }
        let sqlite = try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy)))
        let d = Digest.sha256(sqlite)
        try await fx.repository.store.put(StoreLayout.manifest(d), try ManifestCodec.encode(sqlite))
        try await fx.repository.switchVersion(project, version, to: d, published: "2026-01-01T00:00:00Z")
        return try await fx.repository.openVersion(project, version)
    }
}
