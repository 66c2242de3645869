import CloudTestSupport
import Foundation
import Logging
import Synchronization
import Testing
import TroveContent
@testable import TroveServe
import TroveHTTP

/// `serve.auth_url`: the host application decides who reads a private project (issue 15). Every test
/// runs the real server against a real HTTP application (Tests/authserver/auth_app.py), which records
/// what it was asked.
@Suite(.serialized) struct ExternalAuthTests {
    static let key = "k3y-for-auth-tests"

    /// A harness with `secret` (private) and `demo` (public) published.
    static func harness() async throws -> Harness {
        let h = Harness()
        try await h.publish("secret", "v1", Site.files)
        try await h.publish("demo", "v1", Site.files)
        return h
    }

    /// Runs `body` against a server whose private project `secret` is decided by a fresh auth app.
    static func withAuth(_ configure: (inout ExternalAuthorization) -> Void = { _ in }, path: String = "/auth",
                         logger: Logger = Logger(label: "trove.serve"),
                         _ body: (Client, TroveServer, AuthApp) async throws -> Void) async throws {
        let h = try await harness()
        let app = try await AuthApp.start()
        defer { app.stop() }
        var auth = ExternalAuthorization(url: app.endpoint + path)
        configure(&auth)
        try await h.withServer({
            $0.access = AccessPolicy(privateProjects: ["secret"], tokens: ["t0ken-all"], signingKey: key)
            $0.authorization = auth
            // Nothing here is republished; a loaded machine must not make the fast path's ref answers stale.
            $0.refTTL = .seconds(600)
        }, logger: logger) { (c: Client, server: TroveServer) async throws in
            try await body(c, server, app)
        }
    }

    @Test func allowedAndDeniedWithTheDefault404() async throws {
        try await Self.withAuth { c, _, app in
            let nonexistent = try await c.get("/nothing/v1/page.html")
            let ok = try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"])
            #expect(ok.status == 200)
            #expect(ok.body == Site.page)
            #expect(ok["cache-control"] == "private, no-cache")
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"], method: "HEAD").status == 200)
            #expect(try await c.get("/secret", headers: ["Cookie": "session=ok"])["location"] == "/secret/v1/")
            // The site's own 404 page for a reader the application allows.
            #expect(try await c.get("/secret/v1/nope", headers: ["Cookie": "session=ok"]).text == "<html>our own 404</html>\n")
            // 403, 401 (with a login Location) and no credentials at all: the plain 404 of a project that does not exist.
            for cookie in ["session=deny", "session=login", "session=forbid-login", nil] {
                for path in ["/secret/v1/page.html", "/secret/v1/", "/secret", "/secret/v9/x.html", "/_download/secret/v1/pdf/demo.pdf"] {
                    let r = try await c.get(path, headers: cookie.map { ["Cookie": $0] } ?? [:])
                    #expect(r.status == 404, "\(path) \(cookie ?? "-")")
                    #expect(r.body == nonexistent.body && r["content-type"] == nonexistent["content-type"])
                    #expect(r["location"] == nil && r["www-authenticate"] == nil)
                }
            }
            // What the endpoint was told about the first request.
            let first = try #require(try await app.stats().requests.first)
            #expect(first.path == "/auth")
            #expect(first.header("X-Original-Method") == "GET")
            #expect(first.header("X-Original-URI") == "/secret/v1/page.html")
            #expect(first.header("X-Trove-Project") == "secret")
            #expect(first.header("X-Trove-Version") == "v1")
            #expect(first.header("X-Trove-Path") == "page.html")
            #expect(first.header("Cookie") == "session=ok")
            // Public projects never ask.
            let before = try await app.stats().count
            #expect(try await c.get("/demo/v1/page.html", headers: ["Cookie": "session=deny"]).status == 200)
            #expect(try await app.stats().count == before)
        }
    }

    @Test func passModeGives401And403WithTheirHeaders() async throws {
        try await Self.withAuth({ $0.denial = .pass }) { c, _, _ in
            let login = try await c.get("/secret/v1/page.html?x=1", headers: ["Cookie": "session=login"])
            #expect(login.status == 401)
            #expect(login["www-authenticate"] == "Cookie realm=\"docs\"")
            #expect(login["location"] == "http://login.test/login?next=%2Fsecret%2Fv1%2Fpage.html%3Fx%3D1")
            #expect(login["cache-control"] == "no-store")
            #expect(login.text == "unauthorized\n")
            let forbidden = try await c.get("/_download/secret/v1/pdf/demo.pdf", headers: ["Cookie": "session=deny"])
            #expect(forbidden.status == 403)
            #expect(forbidden.text == "forbidden\n")
            #expect(forbidden["location"] == nil)
            let redirect403 = try await c.get("/secret/v1/", headers: ["Cookie": "session=forbid-login"])
            #expect(redirect403.status == 403)
            #expect(redirect403["location"]?.hasPrefix("http://login.test/login?next=") == true)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"]).body == Site.page)
        }
    }

    @Test func redirectModeSendsBrowsersToTheLoginPage() async throws {
        try await Self.withAuth({ $0.denial = .redirect }) { c, _, _ in
            let r = try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=login"])
            #expect(r.status == 302)
            #expect(r["location"] == "http://login.test/login?next=%2Fsecret%2Fv1%2Fpage.html")
            #expect(r["cache-control"] == "no-store")
            #expect(r.body != Site.page)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=forbid-login"]).status == 302)
            // A denial without a Location is passed through as it is.
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=deny"]).status == 403)
        }
    }

    @Test func failingEndpointsGive503AndNoFileBytes() async throws {
        // An application error (whose body repeats the cookie) and a redirect, which is not followed.
        try await Self.withAuth { c, _, app in
            for (cookie, path) in [("session=boom", "/secret/v1/page.html"), ("session=bounce", "/_download/secret/v1/pdf/demo.pdf")] {
                for method in ["GET", "HEAD"] {
                    let r = try await c.get(path, headers: ["Cookie": cookie], method: method)
                    #expect(r.status == 503, "\(cookie) \(method)")
                    #expect(r.text == (method == "GET" ? "authorisation unavailable, try again shortly\n" : ""))
                    #expect(r["cache-control"] == "no-store")
                    #expect(r["etag"] == nil)
                }
            }
            // Errors are not cached: the next request asks again.
            let before = try await app.stats().count
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=boom"]).status == 503)
            #expect(try await app.stats().count == before + 1)
            #expect(try await app.stats().requests.allSatisfy { $0.path == "/auth" })
        }
        // Nothing listening.
        let h = try await Self.harness()
        try await h.withServer({
            $0.access = AccessPolicy(privateProjects: ["secret"])
            $0.authorization = ExternalAuthorization(url: "http://127.0.0.1:1/auth")
        }) { (c: Client, server: TroveServer) async throws in
            let r = try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"])
            #expect(r.status == 503)
            #expect(r["retry-after"] == "5")
            #expect(r.body.count < 100 && r.body != Site.page)
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "unavailable", "source": "subrequest"]) == 1)
        }
    }

    @Test func slowEndpointTimesOutWith503() async throws {
        try await Self.withAuth({ $0.timeout = .milliseconds(300) }) { c, server, app in
            let r = try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=hold"])
            #expect(r.status == 503)
            #expect(r.body != Site.page)
            try await app.release()
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "unavailable", "source": "subrequest"]) == 1)
            #expect(metric(server, "trove_serve_auth_subrequest_duration_seconds_count", [:]) == 1)
        }
    }

    @Test func decisionsAreCachedForTheTTL() async throws {
        let ttl = Duration.seconds(2)
        try await Self.withAuth({ $0.ttl = ttl }) { c, server, app in
            let start = ContinuousClock.now
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"]).status == 200)
            #expect(try await c.get("/secret/v1/index.html", headers: ["Cookie": "session=ok"]).status == 200)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=deny"]).status == 404)
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=deny"]).status == 404)
            // One subrequest per (project, credentials) within the TTL.
            #expect(try await app.stats().count == 2)
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "allowed", "source": "cache"]) == 1)
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "denied", "source": "cache"]) == 1)
            // Once it has passed, the next request asks again (never before).
            try await eventually {
                #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"]).status == 200)
                return try await app.stats().count == 3
            }
            #expect(ContinuousClock.now - start >= ttl)
        }
        // The bound on entries: the oldest decision goes first.
        try await Self.withAuth({ $0.maxEntries = 2 }) { c, server, app in
            for cookie in ["session=ok", "session=deny", "session=login", "session=ok"] {
                _ = try await c.get("/secret/v1/page.html", headers: ["Cookie": cookie])
            }
            #expect(try await app.stats().count == 4)
            #expect(server.authorizer?.count == 2)
        }
    }

    @Test func aZeroTTLAsksEveryTime() async throws {
        try await Self.withAuth({ $0.ttl = .zero }) { c, server, app in
            for method in ["GET", "HEAD", "GET"] {
                #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok"], method: method).status == 200)
            }
            let asked = try await app.stats().requests
            #expect(asked.map { $0.header("X-Original-Method") } == ["GET", "HEAD", "GET"])
            #expect(server.authorizer?.count == 0)
            #expect(metric(server, "trove_serve_fast_path_requests_total", [:]) == 0)
        }
    }

    @Test func concurrentIdenticalChecksShareOneSubrequest() async throws {
        try await Self.withAuth({ $0.timeout = .seconds(120) }) { c, server, app in
            var config = CurlHTTPClient.Configuration()
            config.maxConnections = 200
            let client = try CurlHTTPClient(configuration: config)
            defer { client.shutdown() }
            let url = c.base + "/secret/v1/page.html"
            try await withThrowingTaskGroup(of: TroveHTTP.HTTPResponse.self) { group in
                for _ in 0..<200 {
                    group.addTask { try await client.send("GET", url, headers: [("Cookie", "session=hold")]) }
                }
                // Every request is waiting on the one subrequest the application holds.
                try await eventually {
                    metric(server, "trove_serve_auth_decisions_total", ["outcome": "allowed", "source": "shared"]) == 0
                        && server.authorizer?.waiting == 199
                }
                #expect(try await app.stats().count == 1)
                try await app.release()
                var ok = 0
                for try await r in group where r.status == 200 && r.body == Site.page { ok += 1 }
                #expect(ok == 200)
            }
            #expect(try await app.stats().count == 1)
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "allowed", "source": "subrequest"]) == 1)
            #expect(metric(server, "trove_serve_auth_decisions_total", ["outcome": "allowed", "source": "shared"]) == 199)
        }
    }

    @Test func credentialsGoOnlyToTheEndpointAndNeverIntoLogs() async throws {
        let lines = LogCapture()
        var logger = Logger(label: "trove.serve") { _ in lines }
        logger.logLevel = .trace
        let cookie = "session=boom; tracker=c00kie-s3cret"
        let bearer = "Bearer b3arer-s3cret"
        try await Self.withAuth({ $0.forwardedHeaders = ["Cookie", "Authorization"] }, path: "/auth?check=1", logger: logger) { c, server, app in
            let r = try await c.get("/secret/v1/page.html?signature=zz", headers: [
                "Cookie": cookie, "Authorization": bearer, "X-Api-Key": "h3ader-s3cret", "Referer": "http://example.test/",
            ])
            #expect(r.status == 503)
            for secret in ["c00kie-s3cret", "b3arer-s3cret", "h3ader-s3cret"] { #expect(!r.text.contains(secret)) }
            let asked = try await app.stats().requests
            #expect(asked.count == 1)
            let request = try #require(asked.first)
            // Only the configured URL, and of the request's own headers only the configured ones.
            #expect(request.path == "/auth?check=1")
            #expect(request.header("Cookie") == cookie)
            #expect(request.header("Authorization") == bearer)
            #expect(request.header("X-Api-Key") == nil)
            #expect(request.header("Referer") == nil)
            let names = Set(request.headers.map { $0.0.lowercased() })
            #expect(names.subtracting(["host", "accept", "cookie", "authorization", "x-original-method", "x-original-uri",
                                       "x-trove-project", "x-trove-version", "x-trove-path"]).isEmpty, "\(names)")
            // A failure is logged, without any credential (nor the endpoint's body, which repeats the cookie).
            #expect(lines.text.contains("auth endpoint answered an unexpected status"))
            for secret in ["c00kie-s3cret", "b3arer-s3cret", "h3ader-s3cret", "check=1"] {
                #expect(!lines.text.contains(secret), "\(secret) in \(lines.text)")
                #expect(!String(decoding: server.metrics.render(), as: UTF8.self).contains(secret))
            }
        }
        // With a narrower list, Authorization stays behind.
        try await Self.withAuth({ $0.forwardedHeaders = ["Cookie"] }) { (c: Client, _: TroveServer, app: AuthApp) async throws in
            #expect(try await c.get("/secret/v1/page.html", headers: ["Cookie": "session=ok", "Authorization": bearer]).status == 200)
            #expect(try await app.stats().requests.first?.header("Authorization") == nil)
        }
    }

    @Test func tokensAndSignedURLsNeedNoSubrequest() async throws {
        try await Self.withAuth { c, _, app in
            let token = try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer t0ken-all"])
            #expect(token.status == 200)
            #expect(token.body == Site.page)
            #expect(try await c.get("/secret", headers: ["Authorization": "Bearer t0ken-all"]).status == 302)
            let future = Int(Date().timeIntervalSince1970) + 600
            let sig = AccessPolicy.signature(key: Self.key, project: "secret", version: "v1", path: "pdf/demo.pdf", expires: future)
            let signed = try await c.get("/_download/secret/v1/pdf/demo.pdf?expires=\(future)&signature=\(sig)")
            #expect(signed.status == 200)
            #expect(signed.body == Site.pdf)
            #expect(try await app.stats().count == 0)
            // A signature for another file does not grant this one; the application still may.
            let other = "/secret/v1/page.html?expires=\(future)&signature=\(sig)"
            #expect(try await c.get(other).status == 404)
            #expect(try await c.get(other, headers: ["Cookie": "session=ok"]).body == Site.page)
            #expect(try await app.stats().count == 2)
            // An application token (not one of serve.tokens) is the application's to judge.
            #expect(try await c.get("/secret/v1/page.html", headers: ["Authorization": "Bearer app-secret"]).status == 200)
        }
    }

    @Test func fastAndSlowAnswersAreTheSameForAPrivateProject() async throws {
        let h = try await Self.harness()
        let app = try await AuthApp.start()
        defer { app.stop() }
        let etag = "\"\(Digest.file(chunks: [Digest.sha256(Site.page)]).hex)\""
        let ok = ["Cookie": "session=ok"]
        let requests: [(String, String, [String: String])] = [
            ("GET", "/secret/v1/page.html", ok),
            ("HEAD", "/secret/v1/page.html", ok),
            ("GET", "/secret/v1/page.html", ok.merging(["If-None-Match": etag]) { $1 }),
            ("GET", "/secret/v1/page.html", ok.merging(["Accept-Encoding": "gzip, zstd"]) { $1 }),
            ("GET", "/secret/v1/_static/site.css", ok),
            ("GET", "/_download/secret/v1/epub/demo.epub", ok),
            ("GET", "/secret/v1/page.html", ["Authorization": "Bearer t0ken-all"]),
            ("GET", "/secret/v1/page.html", [:]),
            ("GET", "/secret/v1/page.html", ["Cookie": "session=deny"]),
        ]
        let wire = requests.map { rawRequest($0.0, $0.1, $0.2) }.joined()
        func answers(fast: Bool) async throws -> ([RawResponse], Int) {
            try await h.withServer({
                $0.fastPath = fast
                $0.refTTL = .seconds(600)
                $0.access = AccessPolicy(privateProjects: ["secret"], tokens: ["t0ken-all"])
                $0.authorization = ExternalAuthorization(url: app.endpoint + "/auth")
            }) { (c: Client, server: TroveServer) async throws in
                for (m, p, hs) in requests { _ = try await c.raw(Array(rawRequest(m, p, hs).utf8)) }
                let before = metric(server, "trove_serve_fast_path_requests_total", [:])
                let out = parseResponses(try await c.raw(Array(wire.utf8)), methods: requests.map(\.0))
                return (out, metric(server, "trove_serve_fast_path_requests_total", [:]) - before)
            }
        }
        let (slow, slowCount) = try await answers(fast: false)
        let (fast, fastCount) = try await answers(fast: true)
        #expect(slow.count == requests.count && slowCount == 0)
        // All but the two refused requests are answered fast, with the slow path's exact bytes.
        #expect(fastCount == requests.count - 2)
        for (i, r) in requests.enumerated() where i < min(slow.count, fast.count) {
            #expect(fast[i] == slow[i], "\(r.0) \(r.1) \(r.2)")
        }
        #expect(fast.first?.body == Site.page)
        #expect(fast.first?.header("cache-control") == "private, no-cache")
        #expect(fast[2].status == 304)
        #expect(fast[7].status == 404 && fast[8].status == 404)
    }

    @Test func fastPathServesOnlyWhatTheCachedDecisionAllows() async throws {
        try await Self.withAuth { c, server, app in
            let page = "/secret/v1/page.html"
            #expect(try await c.get(page, headers: ["Cookie": "session=ok"]).body == Site.page)
            let fastBefore = metric(server, "trove_serve_fast_path_raw_requests_total", [:])
            let fast = try await c.get(page, headers: ["Cookie": "session=ok"])
            #expect(fast.body == Site.page)
            #expect(fast["cache-control"] == "private, no-cache")
            #expect(metric(server, "trove_serve_fast_path_raw_requests_total", [:]) == fastBefore + 1)
            let etag = try #require(fast["etag"])
            #expect(try await c.get(page, headers: ["Cookie": "session=ok", "If-None-Match": etag]).status == 304)
            // The route is cached now; other credentials still get only what their own decision allows.
            #expect(try await c.get(page).status == 404)
            #expect(try await c.get(page, headers: ["Cookie": "session=deny"]).status == 404)
            #expect(try await c.get(page, headers: ["Cookie": "session=deny", "If-None-Match": etag]).status == 404)
            #expect(try await c.get(page, headers: ["Cookie": "session=boom"]).status == 503)
            // A header the raw stage cannot judge alone (the cookie twice) goes the slow way: joined, asked.
            let twice = try await c.get(page, extra: ["-H", "Cookie: session=ok", "-H", "Cookie: other=1"])
            #expect(twice.status == 200)
            #expect(try await app.stats().requests.last?.header("Cookie") == "session=ok; other=1")
            // Tokens on the fast path too.
            #expect(try await c.get(page, headers: ["Authorization": "Bearer t0ken-all"]).body == Site.page)
            #expect(try await c.get(page, headers: ["Authorization": "Bearer wrong"]).status == 404)
            #expect(metric(server, "trove_serve_fast_path_raw_requests_total", [:]) == fastBefore + 3)
        }
    }
}

/// The auth app (Tests/authserver/auth_app.py) and what it was asked.
struct AuthApp {
    let service: PythonService
    let client: CurlHTTPClient
    var endpoint: String { service.endpoint }

    struct Asked: Sendable {
        var path: String
        var headers: [(String, String)]
        func header(_ name: String) -> String? {
            let all = headers.filter { $0.0.caseInsensitiveCompare(name) == .orderedSame }.map(\.1)
            return all.isEmpty ? nil : all.joined(separator: ", ")
        }
    }

    static func start() async throws -> AuthApp {
        AuthApp(service: try await PythonService.start("authserver/auth_app.py", ["--port", "0"]), client: try CurlHTTPClient())
    }

    func stats() async throws -> (count: Int, requests: [Asked]) {
        let r = try await client.send("GET", endpoint + "/__stats")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        let requests = (json["requests"] as? [[String: Any]] ?? []).map { r in
            Asked(path: r["path"] as? String ?? "", headers: (r["headers"] as? [[String]] ?? []).map { ($0[0], $0[1]) })
        }
        return (json["count"] as? Int ?? -1, requests)
    }

    func release() async throws { _ = try await client.send("POST", endpoint + "/__release") }

    func stop() {
        client.shutdown()
        service.stop()
    }
}

/// A log handler that keeps every line (with its metadata) in memory.
final class LogCapture: LogHandler, @unchecked Sendable {
    private let lines = Mutex<[String]>([])
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        lines.withLock { $0.append("\(event.level) \(event.message) \(all)") }
    }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

/// The value of one series in the server's Prometheus text (0 when absent).
func metric(_ server: TroveServer, _ name: String, _ labels: [String: String]) -> Int {
    let text = String(decoding: server.metrics.render(), as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        let matches = labels.allSatisfy { line.contains("\($0.key)=\"\($0.value)\"") }
        if matches, let v = line.split(separator: " ").last.flatMap({ Double($0) }) { return Int(v) }
    }
    return 0
}
