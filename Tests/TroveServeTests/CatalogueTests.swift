import Foundation
import Testing
import TroveContent
import TroveManifest
import TrovePublish
import TroveRepository
import TroveServe
import TroveStorage

/// The `/_/` catalogue pages and JSON API of `trove serve` (docs/serve.md, "Catalogue and API"),
/// through a real HTTP client against a running server.
@Suite(.serialized) struct CatalogueTests {
    /// Site.files with one page edited and one added: a second version sharing most chunks.
    static let v2Files: [String: [UInt8]] = {
        var f = Site.files
        f["html/page.html"] = text("<html><body>Edited in v2. " + String(repeating: "Trove serves documentation. ", count: 60) + "</body></html>\n")
        f["html/new.html"] = text("<html>new in v2</html>\n")
        f["html/space name.html"] = nil
        return f
    }()

    func json(_ r: Reply) throws -> [String: Any] {
        try #require(r.status == 200, "\(r)")
        #expect(r["content-type"] == "application/json")
        return try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], "\(r)")
    }

    func keys(_ o: Any?) -> Set<String> { Set((o as? [String: Any])?.keys.map { $0 } ?? []) }

    /// The API's field names and values, pinned: a change here is a change of a public API.
    @Test func apiDocumentsArePinned() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("demo", "v2", CatalogueTests.v2Files)
        try await h.repository.setAlias("demo", "stable", to: "v1", updated: "2026-01-01T00:00:00Z")
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let projects = try json(try await c.get("/_/api/v1/projects"))
            #expect(keys(projects) == ["projects"])
            let list = try #require(projects["projects"] as? [[String: Any]])
            try #require(list.count == 1)
            #expect(keys(list[0]) == ["name", "private", "versions", "default_version", "site_url", "catalogue_url", "versions_url"])
            #expect(list[0]["name"] as? String == "demo" && list[0]["private"] as? Bool == false && list[0]["versions"] as? Int == 2)
            #expect(list[0]["catalogue_url"] as? String == "/_/demo/" && list[0]["versions_url"] as? String == "/_/api/v1/projects/demo/versions")
            #expect(list[0]["site_url"] as? String == "/demo/")

            let doc = try json(try await c.get("/_/api/v1/projects/demo/versions"))
            #expect(keys(doc) == ["project", "private", "default_version", "versions", "aliases"])
            #expect(doc["project"] as? String == "demo" && doc["private"] as? Bool == false)
            let aliases = try #require(doc["aliases"] as? [[String: Any]])
            #expect(aliases.count == 1 && keys(aliases.first) == ["name", "version", "updated"])
            #expect(aliases.first?["name"] as? String == "stable" && aliases.first?["version"] as? String == "v1")
            let versions = try #require(doc["versions"] as? [[String: Any]])
            #expect(versions.map { $0["name"] as? String } == ["v1", "v2"])
            for v in versions {
                #expect(keys(v) == ["name", "manifest", "build_time", "published", "files", "bytes", "stored_bytes", "shared_bytes",
                                    "dedup_share", "aliases", "site_url", "media"])
                #expect((v["manifest"] as? String)?.count == 64)
            }
            let v1 = versions[0], v2 = versions[1]
            #expect(v1["aliases"] as? [String] == ["stable"] && v2["aliases"] as? [String] == [])
            #expect(v1["files"] as? Int == Site.files.count)
            #expect(v1["bytes"] as? Int == Site.files.values.reduce(0) { $0 + $1.count })
            #expect(v1["site_url"] as? String == "/demo/v1/")
            // The pdf (most of the stored bytes) is the same chunks in both versions: stored once, shared.
            let stored = try #require(v1["stored_bytes"] as? Int), shared = try #require(v1["shared_bytes"] as? Int)
            #expect(stored > Site.pdf.count && shared >= Site.pdf.count && shared < stored)
            #expect((v1["dedup_share"] as? Double).map { $0 > 0.9 && $0 < 1 } == true, "\(v1["dedup_share"] ?? "-") \(stored) \(shared)")
            let media = try #require(v1["media"] as? [[String: Any]])
            #expect(media.map { $0["name"] as? String } == ["epub", "html", "pdf"])
            for m in media { #expect(keys(m) == ["name", "files", "bytes", "url", "downloads", "downloads_truncated"]) }
            #expect(media[1]["url"] as? String == "/demo/v1/" && media[1]["files"] as? Int == 7)
            #expect((media[1]["downloads"] as? [Any])?.isEmpty == true)
            let pdf = try #require((media[2]["downloads"] as? [[String: Any]])?.first)
            #expect(keys(pdf) == ["path", "size", "url"])
            #expect(pdf["path"] as? String == "pdf/demo.pdf" && pdf["size"] as? Int == Site.pdf.count)
            #expect(pdf["url"] as? String == "/_download/demo/v1/pdf/demo.pdf")
            // Every URL the API gives is served.
            #expect(try await c.get("/_download/demo/v1/pdf/demo.pdf").body == Site.pdf)
            #expect(try await c.get("/demo/v1/").status == 200)

            let diff = try json(try await c.get("/_/api/v1/projects/demo/diff?base=stable&head=v2"))
            #expect(keys(diff) == ["project", "base", "head", "main_content_compared", "added", "deleted", "renamed", "modified"])
            #expect(keys(diff["base"]) == ["version", "manifest", "site_url"])
            // An alias is resolved to the version it names; URLs name the version.
            #expect((diff["base"] as? [String: Any])?["version"] as? String == "v1")
            #expect((diff["base"] as? [String: Any])?["site_url"] as? String == "/demo/v1/")
        }
    }

    /// The diff API lists each change with the file's URL in both versions, and every URL works.
    @Test func diffListsChangesWithURLsOfBothVersions() async throws {
        let h = Harness()
        var v1 = Site.files, v2 = CatalogueTests.v2Files
        // Only the footer (outside <main>) changes: modified, main content unchanged.
        v1["html/chrome.html"] = text("<html><body><main>Same words.</main><footer>Built on Monday</footer></body></html>")
        v2["html/chrome.html"] = text("<html><body><main>Same words.</main><footer>Built on Tuesday</footer></body></html>")
        try await h.publish("demo", "v1", v1)
        try await h.publish("demo", "v2", v2)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let diff = try json(try await c.get("/_/api/v1/projects/demo/diff?base=v1&head=v2"))
            #expect(diff["main_content_compared"] as? Bool == true)
            let added = try #require(diff["added"] as? [[String: Any]])
            let deleted = try #require(diff["deleted"] as? [[String: Any]])
            let modified = try #require(diff["modified"] as? [[String: Any]])
            #expect(added.map { $0["path"] as? String } == ["html/new.html"])
            #expect(added.first?["url"] as? String == "/demo/v2/new.html")
            #expect(deleted.map { $0["path"] as? String } == ["html/space name.html"])
            #expect(deleted.first?["url"] as? String == "/demo/v1/space%20name.html")
            #expect(modified.map { $0["path"] as? String } == ["html/chrome.html", "html/page.html"])
            try #require(modified.count == 2)
            #expect(keys(modified[1]) == ["path", "main_content_changed", "base_url", "head_url"])
            #expect(modified[0]["main_content_changed"] as? Bool == false && modified[1]["main_content_changed"] as? Bool == true)
            #expect(modified[1]["base_url"] as? String == "/demo/v1/page.html")
            #expect(modified[1]["head_url"] as? String == "/demo/v2/page.html")
            #expect(try await c.get("/demo/v2/new.html").status == 200)
            #expect(try await c.get("/demo/v1/space%20name.html").status == 200)

            // The page lists the same changes, with links to both versions.
            let page = try await c.get("/_/demo/diff/v1...v2")
            #expect(page.status == 200 && page["content-type"] == "text/html; charset=utf-8")
            #expect(page.text.contains("html/page.html") && page.text.contains("href=\"/demo/v1/page.html\"")
                    && page.text.contains("href=\"/demo/v2/page.html\""))
            #expect(page.text.contains("html/new.html") && page.text.contains("html/space name.html"))
            // Pages whose main content changed come first.
            let pageAt = try #require(page.text.range(of: ">html/page.html<")), chromeAt = try #require(page.text.range(of: ">html/chrome.html<"))
            #expect(pageAt.lowerBound < chromeAt.lowerBound)
        }
    }

    @Test func sameBaseAndHeadIsAnEmptyDiff() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.repository.setAlias("demo", "stable", to: "v1", updated: "2026-01-01T00:00:00Z")
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            for q in ["base=v1&head=v1", "base=stable&head=v1"] {
                let diff = try json(try await c.get("/_/api/v1/projects/demo/diff?\(q)"))
                for k in ["added", "deleted", "renamed", "modified"] { #expect((diff[k] as? [Any])?.isEmpty == true, "\(q) \(k)") }
            }
            let page = try await c.get("/_/demo/diff/v1...stable")
            #expect(page.status == 200 && page.text.contains("The two versions hold the same files."))
        }
    }

    @Test func unknownProjectsVersionsAndPathsAre404() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            for p in ["/_/nope/", "/_/api/v1/projects/nope/versions", "/_/api/v1/projects/nope/diff?base=v1&head=v1",
                      "/_/api/v1/projects/demo/diff?base=v1&head=v9", "/_/api/v1/projects/demo/diff?base=v9&head=v1",
                      "/_/demo/diff/v1...v9", "/_/demo/diff/v1..v1", "/_/demo/diff/", "/_/api/v2/projects", "/_/api/v1/other",
                      "/_/api/v1/projects/demo", "/_/demo/other", "/_/api/v1/projects/..%2f/versions", "/_/api/v1/projects/_x/versions"] {
                let r = try await c.get(p)
                #expect(r.status == 404 && r.text == "not found\n", "\(p): \(r)")
            }
            // Base and head are required, once each.
            for q in ["", "?base=v1", "?head=v1", "?base=v1&head=v1&base=v1"] {
                #expect(try await c.get("/_/api/v1/projects/demo/diff\(q)").status == 400, "\(q)")
            }
            // Slash forms redirect.
            let r = try await c.get("/_")
            #expect(r.status == 301 && r["location"] == "/_/")
            let p = try await c.get("/_/demo")
            #expect(p.status == 301 && p["location"] == "/_/demo/")
        }
    }

    /// `api` is a valid project name: its pages are not the API's.
    @Test func aProjectNamedApiHasItsPages() async throws {
        let h = Harness()
        try await h.publish("api", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let page = try await c.get("/_/api/")
            #expect(page.status == 200 && page.text.contains("<h1>api</h1>"))
            #expect(try await c.get("/_/api/diff/v1...v1").status == 200)
            #expect(try await c.get("/_/api/v1/projects/api/versions").status == 200)
        }
    }

    /// A private project is listed and answered only with a token granting it; otherwise every `/_/`
    /// answer about it is the 404 of a project that does not exist.
    @Test func privateProjectsAreHiddenWithoutAToken() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("secret", "v1", Site.files)
        try await h.publish("secret", "v2", CatalogueTests.v2Files)
        try await h.withServer({ $0.access = AccessPolicy(privateProjects: ["secret"], tokens: ["secret:t0ken", "demo:other"]) }) {
            (c: Client, _: TroveServer) async throws in
            let anonymous = try json(try await c.get("/_/api/v1/projects"))
            #expect((anonymous["projects"] as? [[String: Any]])?.map { $0["name"] as? String } == ["demo"])
            #expect(!(try await c.get("/_/").text.contains("secret")))
            for t in [nil, "Bearer other", "Bearer wrong"] as [String?] {
                let headers = t.map { ["Authorization": $0] } ?? [:]
                for p in ["/_/secret/", "/_/api/v1/projects/secret/versions", "/_/api/v1/projects/secret/diff?base=v1&head=v2",
                          "/_/secret/diff/v1...v2", "/_/secret"] {
                    let r = try await c.get(p, headers: headers)
                    #expect(r.status == 404 && r.text == "not found\n", "\(p) \(t ?? "-"): \(r)")
                }
                #expect(!(try await c.get("/_/api/v1/projects", headers: headers).text.contains("secret")))
            }
            let auth = ["Authorization": "Bearer t0ken"]
            let granted = try json(try await c.get("/_/api/v1/projects", headers: auth))
            #expect((granted["projects"] as? [[String: Any]])?.map { $0["name"] as? String } == ["demo", "secret"])
            #expect((granted["projects"] as? [[String: Any]])?.last?["private"] as? Bool == true)
            let versions = try await c.get("/_/api/v1/projects/secret/versions", headers: auth)
            #expect(versions.status == 200 && versions["cache-control"] == "private, no-cache" && versions["vary"] == "Authorization")
            #expect(try await c.get("/_/secret/", headers: auth).status == 200)
            #expect(try await c.get("/_/secret/diff/v1...v2", headers: auth).status == 200)
            #expect(try await c.get("/_/api/v1/projects/secret/diff?base=v1&head=v2", headers: auth).status == 200)
            #expect(try await c.get("/_/", headers: auth).text.contains("href=\"/_/secret/\""))
        }
    }

    /// Names and paths from the store cannot inject markup into the pages.
    @Test func storeStringsAreEscapedInPages() async throws {
        let h = Harness()
        var files = Site.files
        files["pdf/<script>alert(1)<\\script>.pdf"] = text("x")
        try await h.publish("demo", "v1", Site.files)
        var v2 = files
        v2["html/<img src=x onerror=alert(1)>.html"] = text("<html>hi</html>")
        v2["html/\"quoted'.html"] = text("<html>q</html>")
        try await h.publish("demo", "v2", v2)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let versions = try await c.get("/_/demo/")
            #expect(versions.status == 200)
            #expect(!versions.text.contains("<script>alert(1)"), "\(versions.text)")
            #expect(versions.text.contains("&lt;script&gt;alert(1)&lt;\\script&gt;.pdf"))
            let diff = try await c.get("/_/demo/diff/v1...v2")
            #expect(diff.status == 200)
            #expect(!diff.text.contains("<script>alert(1)") && !diff.text.contains("<img src=x"), "\(diff.text)")
            #expect(diff.text.contains("&lt;img src=x onerror=alert(1)&gt;.html") && diff.text.contains("&quot;quoted&#39;.html"))
            // The links are percent-encoded URLs that work.
            #expect(diff.text.contains("href=\"/demo/v2/%3Cimg%20src=x%20onerror=alert(1)%3E.html\""))
            #expect(try await c.get("/demo/v2/%3Cimg%20src=x%20onerror=alert(1)%3E.html").status == 200)
        }
    }

    @Test func answersHaveETagsAndRevalidateAs304() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("demo", "v2", CatalogueTests.v2Files)
        try await h.withServer({ $0.refTTL = .zero }) { (c: Client, _: TroveServer) async throws in
            var tags: [String: String] = [:]
            for p in ["/_/", "/_/demo/", "/_/demo/diff/v1...v2", "/_/api/v1/projects", "/_/api/v1/projects/demo/versions",
                      "/_/api/v1/projects/demo/diff?base=v1&head=v2"] {
                let r = try await c.get(p)
                let tag = try #require(r["etag"], "\(p)")
                #expect(r.status == 200 && r["cache-control"] == "no-cache", "\(p)")
                let again = try await c.get(p, headers: ["If-None-Match": tag])
                #expect(again.status == 304 && again.body.isEmpty && again["etag"] == tag, "\(p)")
                #expect(try await c.get(p, headers: ["If-None-Match": "\"other\""]).status == 200, "\(p)")
                tags[p] = tag
            }
            // A new version changes the listings (and so their ETags); a diff of two fixed builds stays.
            try await h.publish("demo", "v3", Site.files)
            #expect(try await c.get("/_/api/v1/projects/demo/versions")["etag"] != tags["/_/api/v1/projects/demo/versions"])
            #expect(try await c.get("/_/demo/")["etag"] != tags["/_/demo/"])
            #expect(try await c.get("/_/api/v1/projects/demo/diff?base=v1&head=v2")["etag"] == tags["/_/api/v1/projects/demo/diff?base=v1&head=v2"])
        }
    }

    /// The pages carry the markup assistive technology needs (checked in Chromium by bench/browser/catalogue_check.sh).
    @Test func pagesHaveLandmarksAndTableHeaders() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            for p in ["/_/", "/_/demo/", "/_/demo/diff/v1...v1"] {
                let t = try await c.get(p).text
                for needle in ["<html lang=\"en\">", "<title>", "<main id=\"content\">", "<header>", "<nav aria-label=\"Breadcrumb\">",
                               "name=\"viewport\"", ":focus-visible"] {
                    #expect(t.contains(needle), "\(p) lacks \(needle)")
                }
                #expect(!t.contains("<script") && !t.contains("<link") && !t.contains("src=\""), "\(p) must not load anything")
            }
            let versions = try await c.get("/_/demo/").text
            #expect(versions.contains("<th scope=\"col\">Version</th>") && versions.contains("<th scope=\"row\">"))
        }
    }

    /// Answers from the fast path never shadow `/_/`: a cached file route is per target, and `_` is no project.
    @Test func fastPathLeavesTheCatalogueAlone() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            _ = try await c.get("/demo/v1/page.html")
            _ = try await c.get("/demo/v1/page.html")
            for _ in 0..<2 {
                let r = try await c.get("/_/")
                #expect(r.status == 200 && r.text.contains("href=\"/_/demo/\""))
                #expect(try await c.get("/_/api/v1/projects", method: "HEAD").status == 200)
            }
        }
    }

    /// `_` names are the server's (`/_/`, `/_download/`): publish and alias refuse them (`Names`).
    @Test func reservedUnderscoreNamesAreRefused() async throws {
        let h = Harness()
        await #expect(throws: NameError.self) { try await h.publish("_catalogue", "v1", Site.files) }
        await #expect(throws: NameError.self) { try await h.publish("demo", "_v1", Site.files) }
        try await h.publish("demo", "v1", Site.files)
        await #expect(throws: NameError.self) { try await h.repository.setAlias("demo", "_stable", to: "v1", updated: "2026-01-01T00:00:00Z") }
        #expect(try await h.repository.projects() == ["demo"])
    }
}
