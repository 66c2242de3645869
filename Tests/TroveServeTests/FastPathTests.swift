import Foundation
import Testing
import TroveContent
import TroveServe

/// One response parsed from raw bytes.
struct RawResponse: Equatable, CustomStringConvertible {
    var status: Int
    /// Lower-cased names, in order, without `date` (it differs from second to second).
    var headers: [String]
    var body: [UInt8]
    var description: String { "\(status) \(headers) \(String(decoding: body.prefix(80), as: UTF8.self))" }
    func header(_ name: String) -> String? {
        headers.first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) }
    }
}

/// Splits a stream of HTTP/1.1 responses (HEAD responses have no body whatever their Content-Length).
func parseResponses(_ bytes: [UInt8], methods: [String]) -> [RawResponse] {
    var out: [RawResponse] = []
    var rest = bytes[...]
    let sep: [UInt8] = Array("\r\n\r\n".utf8)
    for method in methods {
        guard let end = rest.firstRange(of: sep) else { break }
        let head = String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self)
        rest = rest[end.upperBound...]
        var lines = head.components(separatedBy: "\r\n")
        let status = Int(lines.removeFirst().split(separator: " ")[1]) ?? 0
        var headers: [String] = []
        var length = 0
        for l in lines {
            guard let colon = l.firstIndex(of: ":") else { continue }
            let name = l[..<colon].lowercased(), value = l[l.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name == "content-length" { length = Int(value) ?? 0 }
            if name != "date" { headers.append("\(name): \(value)") }
        }
        if method == "HEAD" || status == 304 { length = 0 }
        let body = Array(rest.prefix(length))
        rest = rest.dropFirst(length)
        out.append(RawResponse(status: status, headers: headers, body: body))
    }
    return out
}

func rawRequest(_ method: String, _ path: String, _ headers: [String: String] = [:]) -> String {
    var s = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\n"
    for (k, v) in headers.sorted(by: { $0.key < $1.key }) { s += "\(k): \(v)\r\n" }
    return s + "\r\n"
}

/// The fast path (answers from memory in the NIO pipeline) against the slow path (Hummingbird).
@Suite(.serialized) struct FastPathTests {
    static func fastCount(_ c: Client) async throws -> Int {
        let m = try await c.get("/metrics").text
        for line in m.split(separator: "\n") where line.hasPrefix("trove_serve_fast_path_requests_total ") {
            return Int(Double(line.split(separator: " ")[1]) ?? -1)
        }
        return 0
    }

    @Test func sameAnswersAsTheSlowPath() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("empty", "v1", ["html/index.html": text("x"), "html/empty.txt": []])
        let etag = "\"\(Digest.file(chunks: [Digest.sha256(Site.page)]).hex)\""
        let requests: [(String, String, [String: String])] = [
            ("GET", "/demo/v1/page.html", [:]),
            ("HEAD", "/demo/v1/page.html", [:]),
            ("GET", "/demo/v1/page.html", ["If-None-Match": etag]),
            ("HEAD", "/demo/v1/page.html", ["If-None-Match": "\"x\", W/\(etag)"]),
            ("GET", "/demo/v1/page.html", ["If-None-Match": "\"other\""]),
            ("GET", "/demo/v1/page.html", ["Accept-Encoding": "gzip, zstd"]),
            ("HEAD", "/demo/v1/page.html", ["Accept-Encoding": "zstd"]),
            ("GET", "/demo/v1/page.html", ["Accept-Encoding": "zstd;q=0"]),
            ("GET", "/demo/v1/page.html", ["Connection": "keep-alive"]),
            ("GET", "/demo/v1/", [:]),
            ("GET", "/demo/v1/guide/", [:]),
            ("GET", "/demo/v1/_static/site.css", [:]),
            ("GET", "/demo/v1/space%20name.html?q=1", [:]),
            ("GET", "/_download/demo/v1/epub/demo.epub", [:]),
            ("HEAD", "/_download/demo/v1/pdf/demo.pdf", [:]),
            ("GET", "/empty/v1/empty.txt", [:]),
            ("GET", "/healthz", [:]),
            ("GET", "/demo/v1/missing.html", [:]),
            ("GET", "/demo/v1/guide", [:]),
            ("HEAD", "/healthz", [:]),
        ]
        let wire = requests.map { rawRequest($0.0, $0.1, $0.2) }.joined()
        let methods = requests.map(\.0)
        func answers(fast: Bool) async throws -> ([RawResponse], Int) {
            try await h.withServer({ $0.fastPath = fast }) { (c: Client, _: TroveServer) async throws in
                // Warm the caches through the slow path (each request once, on its own connection).
                for (m, p, hs) in requests { _ = try await c.raw(Array(rawRequest(m, p, hs).utf8)) }
                let before = try await Self.fastCount(c)
                let out = parseResponses(try await c.raw(Array(wire.utf8)), methods: methods)
                return (out, try await Self.fastCount(c) - before)
            }
        }
        let (slow, slowCount) = try await answers(fast: false)
        let (fast, fastCount) = try await answers(fast: true)
        #expect(slow.count == requests.count)
        #expect(slowCount == 0)
        // Everything cached and public is fast; the 404 and the redirect are not (and HEAD /healthz).
        #expect(fastCount == requests.count - 3)
        for (i, r) in requests.enumerated() where i < min(slow.count, fast.count) {
            #expect(fast[i] == slow[i], "\(r.0) \(r.1) \(r.2)")
        }
        #expect(fast.first?.body == Site.page)
        #expect(fast.first?.header("etag") == etag)
        #expect(fast.first?.header("server") == "trove")
        #expect(fast[2].status == 304 && fast[2].body.isEmpty)
        #expect(fast[5].header("content-encoding") == "zstd")
    }

    @Test func pipelinedRequestsStayInOrder() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            _ = try await c.get("/demo/v1/page.html")
            _ = try await c.get("/demo/v1/_static/site.css")
            // Fast, slow (a range, read from the store: the pdf's chunks are not cached yet), fast again
            // behind it, a slow 404, a slow redirect, fast, /metrics, fast.
            let reqs: [(String, String, [String: String])] = [
                ("GET", "/demo/v1/page.html", [:]),
                ("GET", "/_download/demo/v1/pdf/demo.pdf", ["Range": "bytes=2000000-2000099"]),
                ("GET", "/demo/v1/_static/site.css", [:]),
                ("GET", "/demo/v1/nope.html", [:]),
                ("HEAD", "/demo/v1/page.html", [:]),
                ("GET", "/demo/v1/guide", [:]),
                ("GET", "/demo/v1/page.html", [:]),
                ("GET", "/metrics", [:]),
                ("GET", "/demo/v1/_static/site.css", [:]),
            ]
            let out = parseResponses(try await c.raw(Array(reqs.map { rawRequest($0.0, $0.1, $0.2) }.joined().utf8)),
                                     methods: reqs.map(\.0))
            #expect(out.map(\.status) == [200, 206, 200, 404, 200, 301, 200, 200, 200])
            guard out.count == reqs.count else { return }
            #expect(out[0].body == Site.page)
            #expect(out[1].body == Array(Site.pdf[2_000_000..<2_000_100]))
            #expect(out[2].body == Site.css)
            #expect(String(decoding: out[3].body, as: UTF8.self) == "<html>our own 404</html>\n")
            #expect(out[4].header("content-length") == String(Site.page.count) && out[4].body.isEmpty)
            #expect(out[5].header("location") == "/demo/v1/guide/")
            #expect(out[6].body == Site.page)
            #expect(String(decoding: out[7].body, as: UTF8.self).contains("trove_serve_requests_total"))
            #expect(out[8].body == Site.css)
        }
    }

    /// A private file is answered fast only for a request that a token (or a cached decision of
    /// serve.auth_url, ExternalAuthTests) grants; every other request to it goes the slow way.
    @Test func privateProjectsTakeTheFastPathOnlyWhenGranted() async throws {
        let h = Harness()
        try await h.publish("secret", "v1", Site.files)
        try await h.withServer({
            $0.access = AccessPolicy(privateProjects: ["secret"], tokens: ["t0ken"], signingKey: "k")
        }) { (c: Client, _: TroveServer) async throws in
            // Warm every cache with the token, then ask without it.
            for _ in 0..<2 { #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer t0ken"]).status == 200) }
            let before = try await Self.fastCount(c)
            let anon = try await c.get("/secret/v1/page.html")
            #expect(anon.status == 404 && anon.text == "not found\n")
            #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer wrong"]).status == 404)
            let ok = try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer t0ken"])
            #expect(ok.status == 200 && ok.body == Site.page && ok["cache-control"] == "private, no-cache")
            #expect(try await Self.fastCount(c) == before + 1)
        }
    }

    @Test func staleRefsGoTheSlowWay() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", ["html/index.html": text("one")])
        try await h.withServer({ $0.refTTL = .milliseconds(200) }) { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo/v1/").text == "one")
            #expect(try await c.get("/demo/v1/").text == "one")
            try await h.publish("demo", "v1", ["html/index.html": text("two")])
            try await eventually { try await c.get("/demo/v1/").text == "two" }
        }
    }
}
