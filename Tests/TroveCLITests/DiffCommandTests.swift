import Foundation
import Testing

/// `trove diff` through the real binary: its file-level lists against `diff -rq` of the two versions
/// exported, its text and JSON shapes, and its exit codes.
@Suite struct DiffCommandTests {
    /// A Sphinx-like page (main content in `<div class="body" role="main">`, a dated footer around it).
    static func page(_ i: Int, date: String, extra: String = "") -> String {
        "<html><body><div class=\"sphinxsidebar\">nav</div><div class=\"body\" role=\"main\"><h1>Page \(i)</h1>"
            + "<p>\(String(repeating: "text of page \(i) ", count: 300))\(extra)</p></div>"
            + "<div class=\"footer\">Last updated \(date)</div></body></html>"
    }

    func write(_ root: String, _ rel: String, _ text: String) throws {
        let p = root + "/" + rel
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: p))
    }

    /// `diff -rq --no-dereference a b`: (only in a, only in b, differing), paths relative to the roots.
    func diffRQ(_ a: String, _ b: String) throws -> (onlyA: Set<String>, onlyB: Set<String>, differ: Set<String>) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/diff")
        p.arguments = ["-rq", "--no-dereference", a, b]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        var r: (onlyA: Set<String>, onlyB: Set<String>, differ: Set<String>) = ([], [], [])
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("Only in "), let colon = line.range(of: ": ") {
                let dir = String(line[line.index(line.startIndex, offsetBy: 8)..<colon.lowerBound])
                let full = dir + "/" + line[colon.upperBound...]
                if full.hasPrefix(a + "/") { r.onlyA.insert(String(full.dropFirst(a.count + 1))) }
                else if full.hasPrefix(b + "/") { r.onlyB.insert(String(full.dropFirst(b.count + 1))) }
            } else if line.hasPrefix("Files "), line.hasSuffix(" differ"), let and = line.range(of: " and \(b)/") {
                r.differ.insert(String(line[and.upperBound...].dropLast(" differ".count)))
            }
        }
        return r
    }

    @Test func listsMatchDiffOfTheExportedVersions() throws {
        let cli = try TroveCLI()
        let b1 = cli.home.path + "/b1", b2 = cli.home.path + "/b2"
        for i in 0..<12 { try write(b1, "html/p\(i).html", DiffCommandTests.page(i, date: "Dec 04")) }
        try write(b1, "html/_static/site.css", "body { margin: 0 }\n")
        try write(b1, "html/old.html", DiffCommandTests.page(50, date: "Dec 04"))
        try write(b1, "html/stable.html", DiffCommandTests.page(60, date: "fixed"))
        // b2: every date changed, p5 edited, old.html gone, stable.html renamed, new.html added, css edited.
        for i in 0..<12 { try write(b2, "html/p\(i).html", DiffCommandTests.page(i, date: "Dec 11", extra: i == 5 ? "edited" : "")) }
        try write(b2, "html/_static/site.css", "body { margin: 1em }\n")
        try write(b2, "html/renamed.html", DiffCommandTests.page(60, date: "fixed"))
        try write(b2, "html/new.html", DiffCommandTests.page(70, date: "Dec 11"))
        #expect(try cli.run(["publish", "docs", "v1", b1]).status == 0)
        #expect(try cli.run(["publish", "docs", "v2", b2]).status == 0)

        let r = try cli.run(["diff", "docs", "v1", "v2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let d = try cli.json(r.stdout)
        #expect(Set(d.keys) == ["base", "head", "added", "deleted", "renamed", "modified"])
        #expect(d["base"] as? String == "v1" && d["head"] as? String == "v2")
        let added = d["added"] as? [String] ?? [], deleted = d["deleted"] as? [String] ?? []
        let renamed = d["renamed"] as? [[String: String]] ?? []
        let modified = d["modified"] as? [[String: Any]] ?? []
        #expect(added == ["html/new.html"] && deleted == ["html/old.html"])
        #expect(renamed.map { [$0["from"] ?? "", $0["to"] ?? ""] } == [["html/stable.html", "html/renamed.html"]])
        // Main content: changed on p5 only, unchanged on the other pages, unknown (null) for the css.
        let flags = Dictionary(uniqueKeysWithValues: modified.map { ($0["path"] as? String ?? "", $0["main_content_changed"]) })
        #expect(flags["html/p5.html"] as? Bool == true)
        #expect(flags["html/p0.html"] as? Bool == false && flags["html/p11.html"] as? Bool == false)
        #expect(flags["html/_static/site.css"] is NSNull)
        #expect(modified.allSatisfy { $0.keys.sorted() == ["main_content_changed", "path"] })

        // The file-level lists are exactly what diff -rq finds between the two versions exported.
        let e1 = cli.home.path + "/e1", e2 = cli.home.path + "/e2"
        #expect(try cli.run(["export", "docs", "v1", e1]).status == 0)
        #expect(try cli.run(["export", "docs", "v2", e2]).status == 0)
        let rq = try diffRQ(e1, e2)
        #expect(rq.onlyA == Set(deleted + renamed.compactMap { $0["from"] }))
        #expect(rq.onlyB == Set(added + renamed.compactMap { $0["to"] }))
        #expect(rq.differ == Set(modified.compactMap { $0["path"] as? String }))
        #expect(rq.differ.count == 13)

        // Text: the summary first, then one line per path.
        let text = try cli.run(["diff", "docs", "v1", "v2"])
        #expect(text.status == 0)
        let lines = text.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "docs v1 -> v2: 1 added, 1 deleted, 1 renamed, 13 modified (1 with main content changed, 11 only around it, 1 not compared)")
        #expect(lines.contains("A  html/new.html") && lines.contains("D  html/old.html") && lines.contains("R  html/stable.html -> html/renamed.html"))
        #expect(lines.contains("M  html/p5.html  (main content changed)") && lines.contains("M  html/p0.html  (only around the main content)"))
        #expect(lines.contains("M  html/_static/site.css"))
        #expect(lines.count == 1 + 1 + 1 + 1 + 13)
    }

    @Test func sameVersionAndMissingVersions() throws {
        let cli = try TroveCLI()
        let t = try cli.tree("b", pages: 3)
        #expect(try cli.run(["publish", "docs", "v1", t]).status == 0)
        let same = try cli.run(["diff", "docs", "v1", "v1"])
        #expect(same.status == 0)
        #expect(same.stdout == "docs v1 -> v1: 0 added, 0 deleted, 0 renamed, 0 modified\nno differences\n")
        let json = try cli.json(try cli.run(["diff", "docs", "v1", "v1", "--json"]).stdout)
        #expect((json["added"] as? [Any])?.isEmpty == true && (json["modified"] as? [Any])?.isEmpty == true)
        let missing = try cli.run(["diff", "docs", "v1", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("nope") && missing.stdout.isEmpty)
        #expect(try cli.run(["diff", "docs", "v1"]).status == 64)
    }

    /// `publish.main_content_selectors` from the flag, a variable or the config file; a bad list is a
    /// usage or config error naming the selector (exit 64, nothing published); two versions taken
    /// with different lists diff with a note saying why no page has a main-content flag.
    @Test func mainContentSelectorsSetting() throws {
        let cli = try TroveCLI()
        func page(_ date: String, _ extra: String = "") -> String {
            "<html><body><div id=\"yui-main\"><p>content\(extra)</p></div><div id=\"sidebar\">Last update \(date)</div></body></html>"
        }
        let b1 = cli.home.path + "/b1", b2 = cli.home.path + "/b2"
        for i in 0..<3 { try write(b1, "html/p\(i).html", page("Dec 04")); try write(b2, "html/p\(i).html", page("Dec 11")) }
        let list = "[role=main], main, div.body, article, #yui-main"
        #expect(try cli.run(["publish", "a", "v1", b1, "--main-content-selectors", list]).status == 0)
        #expect(try cli.run(["publish", "a", "v2", b2], env: ["TROVE_PUBLISH_MAIN_CONTENT_SELECTORS": list]).status == 0)
        let cfg = cli.home.path + "/c.yaml"
        try Data("publish:\n  main_content_selectors: \"\(list)\"\n".utf8).write(to: URL(fileURLWithPath: cfg))
        #expect(try cli.run(["publish", "a", "v3", b2, "--config", cfg]).status == 0)
        for head in ["v2", "v3"] {
            let r = try cli.run(["diff", "a", "v1", head])
            #expect(r.stdout.hasPrefix("a v1 -> \(head): 0 added, 0 deleted, 0 renamed, 3 modified (0 with main content changed, 3 only around it, 0 not compared)"), "\(r.stdout)")
        }
        // The default list finds no main element here: versions taken with it and with the list differ.
        #expect(try cli.run(["publish", "a", "v4", b2]).status == 0)
        let mixed = try cli.run(["diff", "a", "v1", "v4"])
        #expect(mixed.stdout.contains("3 not compared") && mixed.stdout.contains("note: v1 and v4 took main content with different selectors"), "\(mixed.stdout)")

        let bad = try cli.run(["publish", "a", "v5", b2, "--main-content-selectors", "div > p"])
        #expect(bad.status == 64 && bad.stderr.contains("'div > p'") && bad.stderr.contains("combinators"), "\(bad.stderr)")
        let badEnv = try cli.run(["publish", "a", "v5", b2], env: ["TROVE_PUBLISH_MAIN_CONTENT_SELECTORS": "main:first-child"])
        #expect(badEnv.status == 64 && badEnv.stderr.contains("TROVE_PUBLISH_MAIN_CONTENT_SELECTORS") && badEnv.stderr.contains("pseudo-classes"), "\(badEnv.stderr)")
        #expect(try cli.run(["ls", "a", "v5"]).status != 0)
    }
}
