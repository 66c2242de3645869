import Foundation
import Testing
import TroveContent
import TroveTesting
import TroveRepository
import TroveServe
import TroveStorage

/// A cold serve node: a server whose cache directory is empty and whose memory holds nothing, in front
/// of a store that already has the version. Counts what it asks the store for.
@Suite(.timeLimit(.minutes(5))) struct ColdNodeTests {
    /// A page with its CSS, JS and an image, and enough pages beside it for publish to train a dictionary.
    static let site: [String: [UInt8]] = {
        var files: [String: [UInt8]] = [
            "html/index.html": text("<html><head><link rel=stylesheet href=_static/site.css><script src=_static/app.js></script></head>"
                                    + "<body><img src=_images/logo.png>" + String(repeating: "Trove serves documentation. ", count: 80) + "</body></html>\n"),
            "html/_static/site.css": text("body { color: #333 }\n" + String(repeating: ".x { margin: 0 }\n", count: 80)),
            "html/_static/app.js": text("function go() { return 1 }\n" + String(repeating: "var a = go();\n", count: 80)),
            "html/_images/logo.png": pseudoRandom(30_000, seed: 3),
        ]
        // Over 256 KiB of text: enough for publish to train a dictionary.
        for i in 0..<40 {
            files["html/p\(i).html"] = text("<html><head><title>Page \(i)</title></head><body>"
                                            + (0..<160).map { "<p>Section \(i).\($0) explains part \(i * 7 + $0) of the docs.</p>" }.joined() + "</body></html>\n")
        }
        return files
    }()
    static let assets = ["_static/site.css", "_static/app.js", "_images/logo.png"]

    /// What a browser does on a cold node: the page, then its assets all at once; every answer whole
    /// and byte-identical to the site.
    static func fetchPageAndAssets(_ client: Client) async throws {
        let page = try await client.get("/docs/v1/")
        #expect(page.status == 200)
        #expect(page.body == site["html/index.html"])
        let replies = try await withThrowingTaskGroup(of: (String, Reply).self) { group in
            for a in assets { group.addTask { (a, try await client.get("/docs/v1/" + a)) } }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for a in assets {
            #expect(replies[a]?.status == 200, "\(a)")
            #expect(replies[a]?.body == site["html/" + a], "\(a) differs")
        }
    }

    /// A repository over the harness's store with an empty cache directory (a new node).
    static func coldRepository(_ h: Harness) -> Repository {
        Repository(store: h.store, cacheDirectory: URL(fileURLWithPath: h.cacheDir + "-cold-\(UUID().uuidString)"))
    }

    @Test func coldFirstPageFetchesRefManifestDictionaryAndRangesAndItsAssetsAreThenLocal() async throws {
        let h = Harness()
        let report = try await h.publish("docs", "v1", ColdNodeTests.site, dictionary: true)
        let dictionary = try #require(try await h.repository.ref("docs", "v1")?.ref.current.dictionary, "publish trained no dictionary: \(report)")
        let cold = ColdNodeTests.coldRepository(h)
        // A TTL longer than the test however slow the machine: no ref refresh among the counts.
        try await h.withServer(repository: cold, { c in c.refTTL = .seconds(600) }) { client, _ in
            let before = h.store.requests
            let prefixes = ["refs/", "manifests/", "packs/", StoreLayout.dictionary(dictionary).rawValue]
            let readsBefore = prefixes.map { h.store.reads(prefix: $0) }
            func reads(_ prefix: String) -> Int { h.store.reads(prefix: prefix) - readsBefore[prefixes.firstIndex(of: prefix)!] }
            try await ColdNodeTests.fetchPageAndAssets(client)
            let total = h.store.requests - before
            // The ref, the manifest, the dictionary (once, though the ref's prefetch and the chunks
            // both want it), one range for the page and one read-ahead of the rest of its pack.
            #expect(reads(StoreLayout.dictionary(dictionary).rawValue) == 1)
            #expect(reads("manifests/") == 1)
            #expect(reads("refs/") == 1)
            #expect(reads("packs/") <= 2, "pack reads: \(reads("packs/"))")
            #expect(total <= 5, "\(total) store requests for a cold page and its \(ColdNodeTests.assets.count) assets")
            // All local now: the same page and assets again cost nothing.
            let settled = h.store.requests
            for a in ColdNodeTests.assets + ["index.html"] { #expect(try await client.get("/docs/v1/" + a).status == 200) }
            #expect(h.store.requests == settled)
        }
    }

    @Test func madeUpVersionsAndProjectsCostABoundedNumberOfRequestsAndANewVersionStillAppears() async throws {
        let h = Harness()
        try await h.publish("docs", "v1", ["html/index.html": text("<html>v1</html>\n")])
        // A TTL longer than the scan: what one listing saves.
        try await h.withServer(repository: ColdNodeTests.coldRepository(h), { c in c.refTTL = .seconds(600) }) { client, _ in
            let before = h.store.requests
            for i in 0..<100 {
                let r = try await client.get("/docs/made-up-\(i)/index.html")
                #expect(r.status == 404)
            }
            let versions = h.store.requests - before
            // The first miss: its ref, its alias, one LIST of the project; the other 99 from that list.
            #expect(versions == 3, "\(versions) store requests for 100 made-up versions")
            let mid = h.store.requests
            for i in 0..<100 { #expect(try await client.get("/nosuch/v\(i)/index.html").status == 404) }
            #expect(try await client.get("/nosuch/").status == 404)
            let projects = h.store.requests - mid
            #expect(projects == 3, "\(projects) store requests for 100 versions of a made-up project")
            // The real version is still served.
            #expect(try await client.get("/docs/v1/").text == "<html>v1</html>\n")
        }
        // A version published after a miss was listed appears within the ref TTL.
        try await h.withServer(repository: ColdNodeTests.coldRepository(h), { c in c.refTTL = .milliseconds(300) }) { client, _ in
            #expect(try await client.get("/docs/v2/").status == 404)
            #expect(try await client.get("/docs/other/").status == 404)
            try await h.publish("docs", "v2", ["html/index.html": text("<html>v2</html>\n")])
            var seen: Reply?
            for _ in 0..<200 {
                let r = try await client.get("/docs/v2/")
                if r.status == 200 { seen = r; break }
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(seen?.text == "<html>v2</html>\n", "v2 never became visible")
        }
    }

    @Test func readAheadAndPrefetchNeverChangeBytesOrHideStoreErrors() async throws {
        let h = Harness()
        try await h.publish("docs", "v1", ColdNodeTests.site, dictionary: true)
        try await h.withServer(repository: ColdNodeTests.coldRepository(h)) { client, _ in
            // Every file, in an order that reads ahead from the middle of the pack: byte-identical.
            for path in ColdNodeTests.site.keys.sorted(by: >) {
                let r = try await client.get("/docs/v1/" + path.dropFirst("html/".count))
                #expect(r.status == 200, "\(path)")
                #expect(r.body == ColdNodeTests.site[path], "\(path) differs")
            }
        }
        // A store outage on a cold node: 503, not a cached negative answer that outlives it.
        try await h.withServer(repository: ColdNodeTests.coldRepository(h)) { client, _ in
            h.store.down.store(true, ordering: .relaxed)
            let down = try await client.get("/docs/v1/")
            h.store.down.store(false, ordering: .relaxed)
            let up = try await client.get("/docs/v1/")
            #expect(down.status == 503)
            #expect(up.status == 200)
        }
    }
}
