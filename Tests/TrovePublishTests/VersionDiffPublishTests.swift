import Foundation
import Testing
import TroveTesting
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

    /// A page of Django's own theme: the content is `<div id="yui-main">`, the "Last update" date sits
    /// in the sidebar after it, and no default selector matches.
    static func djangoPage(_ i: Int, date: String, edit: String = "") -> String {
        """
        <!DOCTYPE html><html><head><title>Django \(i)</title></head><body><div class="document">
        <div id="custom-doc" class="yui-t6"><div id="hd"><h1><a href="index.html">Django</a></h1></div>
        <div id="bd"><div id="yui-main"><div class="yui-b"><div class="yui-g" id="p\(i)"><section><h1>Page \(i)</h1>
        <p>\(String(repeating: "Text of page \(i). ", count: 30 + i % 5))\(edit)</p></section></div></div></div>
        <div class="yui-b" id="sidebar"><div class="sphinxsidebar" role="navigation"><h3>Last update:</h3><p class="topless">\(date)</p></div></div>
        </div><div id="ft">footer</div></div></div></body></html>
        """
    }

    func djangoTree(_ fx: Fixture, _ name: String, date: String, edits: [Int: String] = [:]) throws -> String {
        let t = fx.dir(name)
        for i in 0..<20 { try fx.write(t, "html/ref/page-\(i).html", VersionDiffPublishTests.djangoPage(i, date: date, edit: edits[i] ?? "")) }
        return t
    }

    static let djangoSelectors = try! MainContentSelectors("[role=main], main, div.body, article, #yui-main")

    /// The default list misses Django's theme (every dated page looks edited); naming its content
    /// element in `publish.main_content_selectors` makes a date-only rebuild change no main content
    /// and a one-page edit exactly one.
    @Test func aThemeTheDefaultListMissesIsNamedInTheSetting() async throws {
        let fx = try Fixture()
        _ = try await fx.publish("plain", "v1", try djangoTree(fx, "p1", date: "Dec 04, 2024"))
        _ = try await fx.publish("plain", "v2", try djangoTree(fx, "p2", date: "Dec 11, 2024"))
        let plain = try await fx.repository.diff("plain", base: "v1", head: "v2")
        #expect(plain.modified.count == 20 && plain.mainContentChangedCount == 20)

        var o = PublishOptions()
        o.mainContentSelectors = VersionDiffPublishTests.djangoSelectors
        _ = try await fx.publish("dj", "v1", try djangoTree(fx, "d1", date: "Dec 04, 2024"), options: o)
        _ = try await fx.publish("dj", "v2", try djangoTree(fx, "d2", date: "Dec 11, 2024"), options: o)
        _ = try await fx.publish("dj", "v3", try djangoTree(fx, "d3", date: "Dec 11, 2024", edits: [7: "Edited."]), options: o)
        let dates = try await fx.repository.diff("dj", base: "v1", head: "v2")
        #expect(dates.modified.count == 20 && dates.mainContentChangedCount == 0 && dates.mainContentCompared)
        let edit = try await fx.repository.diff("dj", base: "v1", head: "v3")
        #expect(edit.modified.filter { $0.mainContentChanged == true }.map(\.path) == ["html/ref/page-7.html"])
        #expect(try await fx.repository.openVersion("dj", "v3").metadata.mainContentSelectors == VersionDiffPublishTests.djangoSelectors.description)
    }

    /// Main digests taken with different lists are not compared: every flag is null and the diff says why.
    @Test func differentSelectorListsAreNotCompared() async throws {
        let fx = try Fixture()
        _ = try await fx.publish("dj", "v1", try djangoTree(fx, "d1", date: "Dec 04, 2024"))
        var o = PublishOptions()
        o.mainContentSelectors = VersionDiffPublishTests.djangoSelectors
        _ = try await fx.publish("dj", "v2", try djangoTree(fx, "d2", date: "Dec 11, 2024"), options: o)
        let d = try await fx.repository.diff("dj", base: "v1", head: "v2")
        #expect(d.modified.count == 20 && d.modified.allSatisfy { $0.mainContentChanged == nil })
        #expect(d.mainContentNotCompared?.contains("different selectors") == true && d.mainContentNotCompared?.contains("#yui-main") == true)
    }

    /// Main digests are not in the tree digest, so an unchanged tree republished with another list
    /// must still be written (with the new list); with the same list it writes nothing.
    @Test func anUnchangedTreeWithAnotherListIsWrittenAgain() async throws {
        let fx = try Fixture()
        let t = try djangoTree(fx, "d1", date: "Dec 04, 2024")
        _ = try await fx.publish("dj", "v1", t)
        var o = PublishOptions()
        o.mainContentSelectors = VersionDiffPublishTests.djangoSelectors
        let again = try await fx.publish("dj", "v1", t, options: o)
        #expect(!again.unchanged)
        #expect(try await fx.repository.openVersion("dj", "v1").metadata.mainContentSelectors == VersionDiffPublishTests.djangoSelectors.description)
        #expect(try await fx.publish("dj", "v1", t, options: o).unchanged)
    }

    /// A page larger than the worker's first read (1 MiB) gets no main digest (its flag is null), and
    /// `mainContentDigests = false` records none at all; both still publish every byte.
    @Test func largePagesAndTheSwitchGiveNoDigest() async throws {
        let fx = try Fixture()
        let t = try tree(fx, "b1", pages: 2, date: "d")
        try fx.write(t, "html/huge.html", "<html><body><main>" + String(repeating: "x", count: 1_200_000) + "</main></body></html>")
        _ = try await fx.publish("docs", "v1", t)
        let m = try await fx.repository.openVersion("docs", "v1")
        #expect(try m.file(at: "html/huge.html")?.mainContentDigest == nil)
        #expect(try m.file(at: "html/topics/page-0.html")?.mainContentDigest != nil)
        var off = PublishOptions()
        off.mainContentDigests = false
        _ = try await fx.publish("docs", "v2", t, options: off)
        let m2 = try await fx.repository.openVersion("docs", "v2")
        #expect(try m2.list().allSatisfy { $0.mainContentDigest == nil })
        #expect(try fx.identical(try await fx.export("docs", "v2"), t))
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
