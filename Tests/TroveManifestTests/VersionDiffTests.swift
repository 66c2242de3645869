import Foundation
import Testing
import TroveContent
import TroveManifest

/// `VersionDiff` on manifests written by `ManifestWriter` and read back through SQLite.
@Suite struct VersionDiffTests {
    func file(_ path: String, _ content: String, main: String? = nil) -> (FileRecord, [ChunkRef]) {
        let chunk = ChunkRef(digest: Digest.sha256(Array(content.utf8)), location: ChunkLocation(
            pack: Digest.sha256(Array("pack".utf8)), offset: 0, storedSize: content.utf8.count, rawSize: content.utf8.count, codec: .raw, dictionary: nil))
        return (FileRecord(path: path, kind: .file, size: content.utf8.count, mode: 0o644, contentType: nil,
                           digest: Digest.file(chunks: [chunk.digest]), linkTarget: nil,
                           mainContentDigest: main.map { Digest.sha256(Array($0.utf8)) }), [chunk])
    }

    func dir(_ path: String) -> (FileRecord, [ChunkRef]) {
        (FileRecord(path: path, kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil), [])
    }

    func link(_ path: String, _ target: String) -> (FileRecord, [ChunkRef]) {
        (FileRecord(path: path, kind: .symlink, size: target.utf8.count, mode: 0o777, contentType: nil, digest: nil, linkTarget: target), [])
    }

    /// Writes `tree` as a manifest file and opens it.
    func manifest(_ tree: [(FileRecord, [ChunkRef])], version: String) throws -> Manifest {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("m.sqlite").path
        let meta = ManifestMetadata(project: "p", version: version, buildTime: "2026-01-01T00:00:00Z", toolVersion: "test",
                                    chunker: .default, dictionary: nil)
        let bytes = try ManifestWriter.write(tree: tree, metadata: meta, path: path)
        return try Manifest(path: path, digest: Digest.sha256(bytes))
    }

    @Test func fileLevelLists() throws {
        let base = try manifest([
            dir("html"),
            file("html/a.html", "a1"), file("html/gone.html", "gone"), file("html/old-name.html", "moved"),
            file("html/same.css", "css"), link("html/latest", "a.html"), dir("html/sub"), file("html/sub/b.html", "b1"),
        ], version: "v1")
        let head = try manifest([
            dir("html"),
            file("html/a.html", "a2"), file("html/latest", "now a file"), file("html/new-name.html", "moved"),
            file("html/new.html", "new"), file("html/same.css", "css"), dir("html/sub"), file("html/sub/b.html", "b2"),
        ], version: "v2")
        let d = try VersionDiff.between(base: base, head: head, baseName: "v1", headName: "v2")
        #expect(d.base == "v1" && d.head == "v2")
        #expect(d.added == ["html/new.html"])
        #expect(d.deleted == ["html/gone.html"])
        #expect(d.renamed == [.init(from: "html/old-name.html", to: "html/new-name.html")])
        #expect(d.modified.map(\.path) == ["html/a.html", "html/latest", "html/sub/b.html"])
        #expect(d.modified.allSatisfy { $0.mainContentChanged == nil })
        #expect(!d.isEmpty)
    }

    @Test func sameManifestIsEmpty() throws {
        let m = try manifest([dir("html"), file("html/a.html", "a"), link("html/l", "a.html")], version: "v1")
        let d = try VersionDiff.between(base: m, head: m, baseName: "v1", headName: "v1")
        #expect(d.isEmpty)
        #expect(d == VersionDiff(base: "v1", head: "v1") && d.mainContentCompared)
    }

    /// Two files with the same bytes deleted and two added: each pairs once, none is reported twice.
    @Test func duplicateContentRenamesPairOnce() {
        let base = [file("a", "x").0, file("b", "x").0, file("c", "y").0]
        let head = [file("d", "x").0, file("e", "z").0]
        let d = VersionDiff.between(base: base, head: head, baseName: "1", headName: "2")
        #expect(d.renamed == [.init(from: "a", to: "d")])
        #expect(d.deleted == ["b", "c"])
        #expect(d.added == ["e"])
    }

    @Test func mainContentFlags() {
        let base = [file("chrome.html", "page, footer 1", main: "body").0, file("edit.html", "text 1", main: "text 1").0,
                    file("style.css", "a").0, file("half.html", "x", main: nil).0]
        let head = [file("chrome.html", "page, footer 2", main: "body").0, file("edit.html", "text 2", main: "text 2").0,
                    file("style.css", "b").0, file("half.html", "y", main: "y").0]
        let d = VersionDiff.between(base: base, head: head, baseName: "1", headName: "2")
        #expect(d.modified == [.init(path: "chrome.html", mainContentChanged: false), .init(path: "edit.html", mainContentChanged: true),
                               .init(path: "half.html", mainContentChanged: nil), .init(path: "style.css", mainContentChanged: nil)])
        #expect(d.mainContentChangedCount == 1)
        // A base that predates main-content digests: no flag is claimed, even where both records hold one.
        let old = VersionDiff.between(base: base, head: head, baseName: "1", headName: "2", mainContentNotCompared: "1 records none")
        #expect(old.modified.allSatisfy { $0.mainContentChanged == nil } && !old.mainContentCompared)
    }

    /// The JSON shape is pinned: snake_case `main_content_changed`, `null` where unknown, no other keys.
    @Test func jsonEncoding() throws {
        let d = VersionDiff(base: "latest", head: "pr-12", added: ["html/new.html"], deleted: ["html/old.html"],
                            renamed: [.init(from: "html/a.html", to: "html/b.html")],
                            modified: [.init(path: "html/index.html", mainContentChanged: false), .init(path: "pdf/x.pdf", mainContentChanged: nil)],
                            mainContentNotCompared: "why")
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = String(decoding: try enc.encode(d), as: UTF8.self)
        #expect(text == #"{"added":["html/new.html"],"base":"latest","deleted":["html/old.html"],"head":"pr-12","#
            + #""modified":[{"main_content_changed":false,"path":"html/index.html"},{"main_content_changed":null,"path":"pdf/x.pdf"}],"#
            + #""renamed":[{"from":"html/a.html","to":"html/b.html"}]}"#)
        var back = try JSONDecoder().decode(VersionDiff.self, from: Data(text.utf8))
        #expect(back.mainContentCompared) // not in the JSON: decodes to its default
        back.mainContentNotCompared = "why"
        #expect(back == d)
    }

    /// When two manifests' main digests can be compared, and the reason given when not.
    @Test func whyMainContentIsNotCompared() {
        func meta(_ selectors: String?, format: Int = 2) -> ManifestMetadata {
            var m = ManifestMetadata(project: "p", version: "v", buildTime: "t", toolVersion: "x", chunker: .default, dictionary: nil)
            m.formatVersion = format
            m.mainContentSelectors = selectors
            return m
        }
        let standard = MainContentSelectors.standard.description
        #expect(VersionDiff.whyNotCompared(base: meta(standard), head: meta(standard), baseName: "a", headName: "b") == nil)
        #expect(VersionDiff.whyNotCompared(base: meta(nil, format: 1), head: meta(standard), baseName: "a", headName: "b")?
            .hasPrefix("a records no main-content digests") == true)
        #expect(VersionDiff.whyNotCompared(base: meta(standard), head: meta(nil), baseName: "a", headName: "b")?
            .hasPrefix("b records no main-content digests") == true)
        let why = VersionDiff.whyNotCompared(base: meta(standard), head: meta(standard + ", #yui-main"), baseName: "a", headName: "b")
        #expect(why == "a and b took main content with different selectors ([role=main], main, div.body, article; [role=main], main, div.body, article, #yui-main)")
    }
}
