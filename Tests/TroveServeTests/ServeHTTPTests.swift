import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveServe
import TroveStorage
import TroveTesting

/// Every behaviour of `trove serve`, seen by a real HTTP client (curl) against a running server.
@Suite(.serialized) struct ServeHTTPTests {
    /// One malformed ref (anyone with builder credentials can write one) must not stop the project's
    /// root from redirecting to its newest readable version.
    @Test func aMalformedRefDoesNotHideTheProjectsOtherVersions() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.memory.put(try StoreLayout.versionRef("demo", "v9"), Array("{not a ref".utf8))
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let root = try await c.get("/demo/")
            #expect(root.status == 302 && root["location"] == "/demo/v1/", "\(root.status) \(root["location"] ?? "-")")
            #expect(try await c.get("/demo/v1/").status == 200)
        }
    }

    @Test func siteRootIndexAndRedirects() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let root = try await c.get("/demo/v1/")
            #expect(root.status == 200)
            #expect(root.text == "<html>index v1</html>\n")
            #expect(root["content-type"] == "text/html; charset=utf-8")
            #expect(root["content-length"] == "22")

            let noSlash = try await c.get("/demo/v1")
            #expect(noSlash.status == 301)
            #expect(noSlash["location"] == "/demo/v1/")

            let dir = try await c.get("/demo/v1/guide")
            #expect(dir.status == 301)
            #expect(dir["location"] == "/demo/v1/guide/")
            let dirQ = try await c.get("/demo/v1/guide?x=1")
            #expect(dirQ["location"] == "/demo/v1/guide/?x=1")
            #expect(try await c.get("/demo/v1/guide/").text == "<html>guide</html>\n")
            #expect(try await c.get("/demo/v1/guide/index.html").text == "<html>guide</html>\n")

            let page = try await c.get("/demo/v1/page.html")
            #expect(page.status == 200)
            #expect(page.body == Site.page)
            // The file's digest: SHA-256 over its chunk digests (one chunk here).
            #expect(page["etag"] == "\"\(Digest.file(chunks: [Digest.sha256(Site.page)]).hex)\"")
            #expect(page["accept-ranges"] == "bytes")
            #expect(page["cache-control"] == "public, max-age=60")

            // A file asked for as a directory does not exist.
            #expect(try await c.get("/demo/v1/page.html/").status == 404)
            // Percent-encoded names.
            #expect(try await c.get("/demo/v1/space%20name.html").text == "<html>spaces</html>\n")
            // Dot segments and doubled slashes a browser might produce.
            #expect(try await c.get("/demo/v1/./guide//index.html").status == 200)

            // Project root redirects to the default version (most recently published here).
            let proj = try await c.get("/demo")
            #expect(proj.status == 302)
            #expect(proj["location"] == "/demo/v1/")
            #expect(try await c.get("/demo/").status == 302)
        }
    }

    @Test func contentTypesAndNotFound() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("plain", "v1", ["readme.txt": text("plain")])
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo/v1/_static/site.css")["content-type"] == "text/css; charset=utf-8")
            #expect(try await c.get("/demo/v1/data.unknownext")["content-type"] == "application/octet-stream")
            #expect(try await c.get("/_download/demo/v1/pdf/demo.pdf")["content-type"] == "application/pdf")

            // The site's own 404 page, with status 404.
            let missing = try await c.get("/demo/v1/no/such/page.html")
            #expect(missing.status == 404)
            #expect(missing.text == "<html>our own 404</html>\n")
            #expect(missing["content-type"] == "text/html; charset=utf-8")
            // A site without one, an unknown version and an unknown project get the plain 404.
            let plain404 = try await c.get("/plain/v1/nothing")
            #expect(plain404.status == 404)
            #expect(plain404.text == "not found\n")
            #expect(try await c.get("/demo/v9/").text == "not found\n")
            #expect(try await c.get("/nobody/v1/").text == "not found\n")
            #expect(try await c.get("/nobody").status == 404)
            #expect(try await c.get("/").status == 404)
            #expect(try await c.get("/demo/v1/", method: "POST").status == 405)
        }
    }

    @Test func downloadsAndTreesWithoutHTML() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("raw", "v1", ["index.html": text("raw index"), "pdf/x.pdf": text("x"), "a/b.txt": text("b")])
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let pdf = try await c.get("/_download/demo/v1/pdf/demo.pdf")
            #expect(pdf.status == 200)
            #expect(pdf.body == Site.pdf)
            #expect(pdf["content-length"] == String(Site.pdf.count))
            #expect(try await c.get("/_download/demo/v1/epub/demo.epub").text == "epub bytes")
            // html is the site itself, not a download; media folders are not browsable.
            #expect(try await c.get("/_download/demo/v1/html/index.html").status == 404)
            #expect(try await c.get("/_download/demo/v1/pdf/").status == 404)
            // With an html/ tree, other media are not under the site root.
            #expect(try await c.get("/demo/v1/pdf/demo.pdf").status == 404)
            // A tree without html/ is served as published.
            #expect(try await c.get("/raw/v1/").text == "raw index")
            #expect(try await c.get("/raw/v1/a/b.txt").text == "b")
            #expect(try await c.get("/raw/v1/pdf/x.pdf").text == "x")
        }
    }

    @Test func headAndConditionalRequests() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let full = try await c.get("/demo/v1/page.html")
            let etag = try #require(full["etag"])
            let head = try await c.get("/demo/v1/page.html", method: "HEAD")
            #expect(head.status == 200)
            #expect(head["content-length"] == String(Site.page.count))
            #expect(head["etag"] == etag)
            #expect(head.body.isEmpty)
            let bigHead = try await c.get("/_download/demo/v1/pdf/demo.pdf", method: "HEAD")
            #expect(bigHead["content-length"] == String(Site.pdf.count))

            let notModified = try await c.get("/demo/v1/page.html", headers: ["If-None-Match": etag])
            #expect(notModified.status == 304)
            #expect(notModified.body.isEmpty)
            #expect(notModified["etag"] == etag)
            #expect(try await c.get("/demo/v1/page.html", headers: ["If-None-Match": "\"nope\", W/\(etag)"]).status == 304)
            #expect(try await c.get("/demo/v1/page.html", headers: ["If-None-Match": "*"]).status == 304)
            #expect(try await c.get("/demo/v1/page.html", headers: ["If-None-Match": "\"other\""]).status == 200)
        }
    }

    @Test func byteRanges() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let size = Site.pdf.count
            let url = "/_download/demo/v1/pdf/demo.pdf"
            let r = try await c.get(url, headers: ["Range": "bytes=100-199"])
            #expect(r.status == 206)
            #expect(r.body == Array(Site.pdf[100..<200]))
            #expect(r["content-range"] == "bytes 100-199/\(size)")
            #expect(r["content-length"] == "100")

            // Across many chunk boundaries, from the middle to the end.
            let tail = try await c.get(url, headers: ["Range": "bytes=\(size / 3)-"])
            #expect(tail.status == 206)
            #expect(tail.body == Array(Site.pdf[(size / 3)...]))

            let suffix = try await c.get(url, headers: ["Range": "bytes=-500"])
            #expect(suffix.body == Array(Site.pdf[(size - 500)...]))
            #expect(suffix["content-range"] == "bytes \(size - 500)-\(size - 1)/\(size)")

            // Last byte position past the end is clamped.
            let clamped = try await c.get("/demo/v1/page.html", headers: ["Range": "bytes=10-99999999999999999999999"])
            #expect(clamped.status == 206)
            #expect(clamped.body == Array(Site.page[10...]))

            let unsatisfiable = try await c.get(url, headers: ["Range": "bytes=\(size)-"])
            #expect(unsatisfiable.status == 416)
            #expect(unsatisfiable["content-range"] == "bytes */\(size)")

            // Ignored (full 200): several ranges, other units, garbage, reversed.
            for bad in ["bytes=0-1,5-6", "items=0-1", "bytes=abc", "bytes=5-1", "bytes==", "bytes=--1", "bytes=1-2-3"] {
                let g = try await c.get("/demo/v1/page.html", headers: ["Range": bad])
                #expect(g.status == 200, "Range: \(bad)")
                #expect(g.body == Site.page, "Range: \(bad)")
            }
            // If-Range with a different validator: the whole file.
            let ifRange = try await c.get("/demo/v1/page.html", headers: ["Range": "bytes=0-9", "If-Range": "\"old\""])
            #expect(ifRange.status == 200)
            let etag = try #require(try await c.get("/demo/v1/page.html")["etag"])
            #expect(try await c.get("/demo/v1/page.html", headers: ["Range": "bytes=0-9", "If-Range": etag]).status == 206)
        }
    }

    @Test func zstdPassthroughDecodesWithRealZstd() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        let m = try await h.repository.openVersion("demo", "v1")
        let rec = try #require(try m.file(at: "html/page.html"))
        let chunks = try m.chunks(of: rec)
        #expect(chunks.count == 1 && chunks[0].location.codec == .zstd && chunks[0].location.dictionary == nil)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let z = try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "gzip, zstd"])
            #expect(z.status == 200)
            #expect(z["content-encoding"] == "zstd")
            #expect(z["vary"] == "Accept-Encoding")
            #expect(z["content-length"] == String(chunks[0].location.storedSize))
            #expect(z.body.count < Site.page.count / 4)
            let (rc, decoded) = try run("/usr/bin/zstd", ["-d", "-c", "-q"], stdin: z.body)
            #expect(rc == 0)
            #expect(decoded == Site.page)
            // The compressed representation has its own validator.
            let zTag = try #require(z["etag"])
            #expect(zTag != "\"\(Digest.file(chunks: [Digest.sha256(Site.page)]).hex)\"")
            #expect(try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd", "If-None-Match": zTag]).status == 304)
            // Hot: second request from the cache, same bytes.
            #expect(try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd"]).body == z.body)
            // curl decoding it as a client would (when built with zstd support).
            let auto = try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd"], extra: ["--compressed"])
            if auto.exitCode == 0 && auto["content-encoding"] == "zstd" && auto.body != z.body { #expect(auto.body == Site.page) }

            // No zstd for clients that do not ask (or refuse it), for ranges, or for multi-chunk files.
            let id = try await c.get("/demo/v1/page.html")
            #expect(id["content-encoding"] == nil)
            #expect(id.body == Site.page)
            #expect(try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd;q=0"])["content-encoding"] == nil)
            let ranged = try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd", "Range": "bytes=0-4"])
            #expect(ranged.status == 206 && ranged["content-encoding"] == nil && ranged.body == Array(Site.page[0..<5]))
            let pdf = try await c.get("/_download/demo/v1/pdf/demo.pdf", headers: ["Accept-Encoding": "zstd"])
            #expect(pdf["content-encoding"] == nil && pdf.body == Site.pdf)
            let zHead = try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd"], method: "HEAD")
            #expect(zHead["content-encoding"] == "zstd" && zHead["content-length"] == String(chunks[0].location.storedSize))
        }
    }

    @Test func aliasesAndRefTTL() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("demo", "v2", ["html/index.html": text("<html>index v2</html>\n")])
        try await h.repository.setAlias("demo", "stable", to: "v1", updated: "2026-01-01T00:00:00Z")
        try await h.withServer({ $0.refTTL = .milliseconds(300) }) { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo/stable/").text == "<html>index v1</html>\n")
            // Newest publish is the default while there is no `latest`.
            #expect(try await c.get("/demo/")["location"] == "/demo/v2/")

            // `latest` becomes the default as soon as it exists (within the ref TTL).
            try await h.repository.setAlias("demo", "latest", to: "v2", updated: "2026-01-01T00:00:00Z")
            try await eventually { try await c.get("/demo/")["location"] == "/demo/latest/" }
            #expect(try await c.get("/demo/latest/").text == "<html>index v2</html>\n")

            // Re-pointing an alias and republishing a version are both picked up without restart.
            try await h.repository.setAlias("demo", "stable", to: "v2", updated: "2026-01-02T00:00:00Z")
            try await eventually { try await c.get("/demo/stable/").text == "<html>index v2</html>\n" }
            try await h.publish("demo", "v2", ["html/index.html": text("<html>index v2, rebuilt</html>\n")])
            try await eventually { try await c.get("/demo/v2/").text == "<html>index v2, rebuilt</html>\n" }
        }
        // An alias may not shadow a version.
        await #expect(throws: AliasError.self) { try await h.repository.setAlias("demo", "v1", to: "v2", updated: "x") }
        #expect(try await h.repository.aliases(of: "demo").map(\.alias) == ["latest", "stable"])
    }

    @Test func configuredDefaultVersion() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("demo", "v2", ["html/index.html": text("v2")])
        try await h.withServer({ $0.defaultVersions = ["demo": "v1"] }) { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo")["location"] == "/demo/v1/")
        }
    }

    @Test func privateProjectsTokensAndSignedURLs() async throws {
        let h = Harness()
        try await h.publish("secret", "v1", Site.files)
        try await h.publish("demo", "v1", Site.files)
        let key = "k3y-for-tests"
        try await h.withServer({
            $0.access = AccessPolicy(privateProjects: ["secret"], tokens: ["t0ken-all", "other:t0ken-other"], signingKey: key)
        }) { (c: Client, _: TroveServer) async throws in
            let nonexistent = try await c.get("/nothing/v1/page.html")
            // Unauthorised: exactly the answer of a project that does not exist, everywhere.
            for path in ["/secret/v1/page.html", "/secret/v1/", "/secret/v1", "/secret", "/secret/v1/missing.html",
                         "/secret/v9/", "/_download/secret/v1/pdf/demo.pdf"] {
                let r = try await c.get(path)
                #expect(r.status == 404, "\(path)")
                #expect(r.body == nonexistent.body, "\(path)")
                #expect(r["content-type"] == nonexistent["content-type"], "\(path)")
            }
            #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer wrong"]).status == 404)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer t0ken-other"]).status == 404)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Basic t0ken-all"]).status == 404)

            let ok = try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer t0ken-all"])
            #expect(ok.status == 200)
            #expect(ok.body == Site.page)
            #expect(ok["cache-control"] == "private, no-cache")
            #expect(try await c.get("/secret", headers: ["Authorization": "bearer t0ken-all"]).status == 302)
            // Authorised clients see the site's own 404.
            #expect(try await c.get("/secret/v1/nope", headers: ["Authorization": "Bearer t0ken-all"]).text == "<html>our own 404</html>\n")

            // Signed URLs.
            let future = Int(Date().timeIntervalSince1970) + 600
            let sig = AccessPolicy.signature(key: key, project: "secret", version: "v1", path: "html/page.html", expires: future)
            let signed = try await c.get("/secret/v1/page.html?expires=\(future)&signature=\(sig)")
            #expect(signed.status == 200)
            #expect(signed.body == Site.page)
            let pdfSig = AccessPolicy.signature(key: key, project: "secret", version: "v1", path: "pdf/demo.pdf", expires: future)
            #expect(try await c.get("/_download/secret/v1/pdf/demo.pdf?expires=\(future)&signature=\(pdfSig)").body == Site.pdf)
            // Another path, a changed expiry, a tampered signature, an expired URL: all 404.
            #expect(try await c.get("/secret/v1/index.html?expires=\(future)&signature=\(sig)").status == 404)
            #expect(try await c.get("/secret/v1/page.html?expires=\(future + 1)&signature=\(sig)").status == 404)
            let tampered = String(sig.dropLast()) + (sig.hasSuffix("0") ? "1" : "0")
            #expect(try await c.get("/secret/v1/page.html?expires=\(future)&signature=\(tampered)").status == 404)
            let past = Int(Date().timeIntervalSince1970) - 1
            let old = AccessPolicy.signature(key: key, project: "secret", version: "v1", path: "html/page.html", expires: past)
            let expired = try await c.get("/secret/v1/page.html?expires=\(past)&signature=\(old)")
            #expect(expired.status == 404)
            #expect(expired.body == nonexistent.body)
            let wrongKey = AccessPolicy.signature(key: "other", project: "secret", version: "v1", path: "html/page.html", expires: future)
            #expect(try await c.get("/secret/v1/page.html?expires=\(future)&signature=\(wrongKey)").status == 404)

            // Public projects are unaffected.
            #expect(try await c.get("/demo/v1/page.html").status == 200)
        }
    }

    @Test func hostilePathsNeverEscape() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("secret", "v1", ["html/index.html": text("SECRET")])
        try await h.withServer({ $0.access = AccessPolicy(privateProjects: ["secret"]) }) { (c: Client, _: TroveServer) async throws in
            let hostile = [
                "/demo/v1/../../secret/v1/index.html", "/demo/v1/%2e%2e/%2e%2e/secret/v1/index.html",
                "/demo/v1/%2E%2e/v1/index.html", "/demo/v1/..%2f..%2fsecret/v1/index.html", "/demo/v1/%2e%2e%2f",
                "/demo/v1/guide%2findex.html", "/demo/v1/guide%2Findex.html", "/demo/v1/%00", "/demo/v1/index.html%00.png",
                "/demo/v1/%0d%0aSet-Cookie:%20x", "/demo/v1/%ff%fe", "/demo/v1/%c0%ae%c0%ae/", "/demo/v1/%", "/demo/v1/%zz",
                "/demo/v1/..", "/demo/..", "/..", "/demo/v1/.../", "/demo/v1/" + String(repeating: "a", count: 300),
                "/demo/v1/" + String(repeating: "a/", count: 100), "/%2e%2e/etc/passwd", "/demo/v1/\\..\\..\\x",
                "/demo/v1/%5c..%5c..%5csecret", "/_download/demo/v1/pdf/../../html/index.html", "/_download/../secret/v1/index.html",
            ]
            for path in hostile {
                let r = try await c.get(path)
                #expect([400, 404].contains(r.status), "\(path) -> \(r.status)")
                #expect(!r.text.contains("SECRET"), "\(path)")
            }
            let long = try await c.get("/demo/v1/" + String(repeating: "x", count: 5000))
            #expect(long.status == 414)

            // Bytes curl would not send: raw NUL, CR, overlong request line, garbage.
            let rawRequests: [[UInt8]] = [
                Array("GET /demo/v1/index.html\0/../../x HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("GET /demo/v1/\r/x HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("GET http://evil/demo/v1/ HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("GET * HTTP/1.1\r\nHost: x\r\n\r\n".utf8),
                Array("GET /demo/v1/page.html HTTP/1.1\r\nHost: x\r\nRange: bytes=\(String(repeating: "9", count: 300))-\r\n\r\n".utf8),
                Array("GET /demo/v1/page.html HTTP/1.1\r\nHost: x\r\nRange: bytes=-0\r\n\r\n".utf8),
                Array("GET /demo/v1/page.html HTTP/1.1\r\nHost: x\r\nRange: bytes=\0-1\r\n\r\n".utf8),
                Array("\u{1}\u{2}\u{3}garbage\r\n\r\n".utf8),
                pseudoRandom(70_000, seed: 3),
            ]
            for req in rawRequests {
                let reply = String(decoding: try await c.raw(req), as: UTF8.self)
                #expect(!reply.contains("SECRET"))
                #expect(!reply.hasPrefix("HTTP/1.1 5"), "\(reply.prefix(80))")
            }
            // Still serving.
            #expect(try await c.get("/demo/v1/").status == 200)
            #expect(try await c.get("/healthz").status == 200)
        }
    }

    @Test func corruptBlobGives502NeverWrongBytes() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        let m = try await h.repository.openVersion("demo", "v1")
        let page = try m.chunks(of: try #require(try m.file(at: "html/page.html")))[0].location
        let pdfChunks = try m.chunks(of: try #require(try m.file(at: "pdf/demo.pdf")))
        // Flip a byte inside the page's chunk and inside a pdf chunk past the first MiB.
        let late = try #require(pdfChunks.last).location
        h.memory.tamper(StoreLayout.pack(page.pack)) { $0[page.offset + page.storedSize / 2] ^= 0xFF }
        h.memory.tamper(StoreLayout.pack(late.pack)) { $0[late.offset + late.storedSize / 2] ^= 0xFF }
        try await h.withServer { (c: Client, server: TroveServer) async throws in
            let r = try await c.get("/demo/v1/page.html")
            #expect(r.status == 502)
            #expect(r.text == "stored data failed verification\n")
            let z = try await c.get("/demo/v1/page.html", headers: ["Accept-Encoding": "zstd"])
            #expect(z.status == 502)
            // Corruption after the headers went out: the connection is cut short, never wrong bytes.
            let big = try await c.get("/_download/demo/v1/pdf/demo.pdf")
            #expect(big.status == 200)
            #expect(big.exitCode != 0)
            #expect(big.body.count < Site.pdf.count)
            #expect(big.body == Array(Site.pdf.prefix(big.body.count)))
            // Before the corrupt chunk, ranges still work.
            #expect(try await c.get("/_download/demo/v1/pdf/demo.pdf", headers: ["Range": "bytes=0-999"]).body == Array(Site.pdf[0..<1000]))
            let metrics = try await c.get("/metrics").text
            #expect(metrics.contains("trove_serve_store_errors_total{kind=\"corrupt\"}"))
            _ = server
        }
    }

    @Test func storeOutageGives503WithRetryAfter() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            // A HEAD: ref and manifest now cached, but no chunk (a GET would read its pack region ahead).
            #expect(try await c.get("/demo/v1/", method: "HEAD").status == 200)
            h.store.down.store(true, ordering: .relaxed)
            // Cold paths need the store: 503 with Retry-After.
            let cold = try await c.get("/demo/v1/page.html")
            #expect(cold.status == 503)
            #expect(cold["retry-after"] == "5")
            #expect(try await c.get("/demo/v2/").status == 503)
            // What is cached keeps working through the outage.
            #expect(try await c.get("/demo/v1/", method: "HEAD").status == 200)
            h.store.down.store(false, ordering: .relaxed)
            #expect(try await c.get("/demo/v1/page.html").status == 200)
            let metrics = try await c.get("/metrics").text
            #expect(metrics.contains("trove_serve_store_errors_total{kind=\"unavailable\"}"))
        }
    }

    @Test func operationsEndpoints() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            let hz = try await c.get("/healthz")
            #expect(hz.status == 200 && hz.text == "ok\n")
            _ = try await c.get("/demo/v1/page.html")
            _ = try await c.get("/demo/v1/page.html")
            _ = try await c.get("/demo/v1/missing")
            let m = try await c.get("/metrics")
            #expect(m.status == 200)
            #expect(m["content-type"]?.hasPrefix("text/plain") == true)
            let t = m.text
            #expect(t.contains("trove_serve_requests_total{status=\"200\"}"))
            #expect(t.contains("trove_serve_requests_total{status=\"404\"}"))
            #expect(t.contains("trove_serve_request_duration_seconds_bucket"))
            #expect(t.contains("trove_serve_response_bytes_total"))
            #expect(t.contains("trove_serve_chunk_cache_hits_total"))
            #expect(t.contains("trove_serve_chunk_cache_misses_total"))
            #expect(t.contains("trove_serve_chunk_cache_hit_ratio"))
        }
    }

    @Test func symlinksStayInsideTheVersion() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files, symlinks: ["html/alias.html": "page.html", "html/docs": "guide"])
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo/v1/alias.html").body == Site.page)
            #expect(try await c.get("/demo/v1/docs/").text == "<html>guide</html>\n")
        }
    }

    @Test func idleConnectionsAreClosed() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", ["html/index.html": text("x")])
        try await h.withServer({ $0.idleTimeout = .seconds(1) }) { (c: Client, _: TroveServer) async throws in
            // A client that connects and sends nothing is disconnected after the idle timeout (1 s; the
            // socket's own 60 s receive timeout only ends the test if the server never closes).
            let port = c.port
            let closed = try await offPool { () -> Bool in
                try RawSocket(port: port, timeout: 60).isClosedByPeer()
            }
            #expect(closed)
        }
    }
}

extension ServeHTTPTests {
    @Test func clientsThatStopReadingAreDisconnected() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer({ $0.idleTimeout = .seconds(1) }) { (c: Client, _: TroveServer) async throws in
            let port = c.port
            let stalls = try await RawFastPathTests.metric(c, "trove_serve_write_stall_disconnects_total")
            let s = try await offPool { () -> RawSocket in
                let s = try RawSocket(port: port, receiveBuffer: 4096, timeout: 60)
                s.send(Array("GET /_download/demo/v1/pdf/demo.pdf HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                return s
            }
            // Never read while the server writes 3 MiB, until the server says it closed the connection.
            try await eventually { try await RawFastPathTests.metric(c, "trove_serve_write_stall_disconnects_total") == stalls + 1 }
            let received = try await offPool { s.readToEnd().count }
            // The server gave up on the stalled response: far less than the file arrived.
            #expect(received < Site.pdf.count)
            #expect(try await c.get("/healthz").status == 200)
        }
    }
}

/// Polls `condition` until it holds. The deadline only ends a test whose condition never holds; it is
/// not a speed requirement (a loaded CI machine may take seconds for what takes milliseconds here).
func eventually(_ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition never held")
}

#if canImport(Glibc)
import Glibc
#endif
