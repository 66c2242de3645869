import Foundation
import Logging
import Synchronization
import Testing
@testable import TroveServe
import TroveStorage

/// Signed-URL secrets never reach a log line, ambiguous signatures grant nothing, and symlinks inside a
/// version are followed in every path component (issue 12, items 13 and 16).
@Suite(.serialized) struct UntrustedInputServeTests {
    @Test func duplicateSignatureOrExpiryParametersGrantNothing() {
        let key = "secret"
        let sig = AccessPolicy.signature(key: key, project: "p", version: "v", path: "html/a.html", expires: 2_000_000_000)
        let policy = AccessPolicy(privateProjects: ["p"], signingKey: key)
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        func grants(_ q: String) -> Bool { policy.signatureGrants(query: Substring(q), project: "p", version: "v", path: "html/a.html", now: now) }
        #expect(grants("expires=2000000000&signature=\(sig)"))
        #expect(grants("x=1&expires=2000000000&signature=\(sig)&y"))
        #expect(!grants("expires=2000000000&signature=00&signature=\(sig)"))
        #expect(!grants("expires=2000000000&signature=\(sig)&signature=\(sig)"))
        #expect(!grants("expires=1&expires=2000000000&signature=\(sig)"))
        #expect(!grants("expires=2000000000&signature&signature=\(sig)"))
    }

    @Test func redactionCoversEverySignatureParameter() {
        let s = String(repeating: "f", count: 64)
        for (raw, want) in [
            ("/p/v/a?signature=x&signature=\(s)", "/p/v/a?signature=REDACTED&signature=REDACTED"),
            ("/p/v/a?Signature=\(s)", "/p/v/a?Signature=REDACTED"),
            ("/p/v/a?%73ignature=\(s)&expires=1", "/p/v/a?%73ignature=REDACTED&expires=1"),
            ("/p/v/a?a=1&&signature=\(s)&", "/p/v/a?a=1&&signature=REDACTED&"),
            ("/p/v/a?signaturex=1", "/p/v/a?signaturex=1"),
        ] {
            #expect(TroveServer.loggablePath(raw) == want, "\(raw)")
        }
        // Cut after redaction: a signature beyond 512 bytes cannot survive in part.
        let long = "/p/v/" + String(repeating: "a", count: 470) + "?expires=1&signature=\(s)"
        let logged = TroveServer.loggablePath(long)
        #expect(logged.utf8.count <= 512 && !logged.contains("ffffffff"), "\(logged)")
    }

    /// The error log (store outage here) writes the target through the same redaction as the access log.
    @Test func errorLogLinesRedactSignatures() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        let secret = String(repeating: "c0ffee", count: 10) + "beef"
        let lines = LogLines()
        try await h.withServer(logger: Logger(label: "trove.serve") { _ in CapturingLogHandler(lines) }) { client, _ in
            h.store.down.store(true, ordering: .relaxed)
            let r = try await client.get("/demo/v1/page.html?expires=9999999999&signature=00&signature=\(secret)")
            #expect(r.status == 503)
        }
        let logged = lines.all
        #expect(logged.contains { $0.contains("store unavailable") && $0.contains("signature=REDACTED") }, "\(logged)")
        #expect(!logged.contains { $0.contains(secret) }, "\(logged)")
    }

    @Test func symlinkedDirectoriesAndChainsAreServedInsideTheVersion() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files, symlinks: [
            "html/docs": "guide", "html/deep/link": "../guide", "html/chain.html": "docs/../page.html",
            "html/dl": "../pdf", "html/loop1": "loop2", "html/loop2": "loop1",
        ])
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            #expect(try await c.get("/demo/v1/docs/index.html").text == "<html>guide</html>\n")
            #expect(try await c.get("/demo/v1/docs/").text == "<html>guide</html>\n")
            #expect(try await c.get("/demo/v1/docs").status == 301)
            #expect(try await c.get("/demo/v1/deep/link/index.html").text == "<html>guide</html>\n")
            #expect(try await c.get("/demo/v1/chain.html").body == Site.page)
            // Inside the version but outside the site root: still the version's own file.
            #expect(try await c.get("/demo/v1/dl/demo.pdf").body == Site.pdf)
            #expect(try await c.get("/demo/v1/loop1").status == 404)
            #expect(try await c.get("/demo/v1/loop1/x").status == 404)
            #expect(try await c.get("/demo/v1/docs/index.html/x").status == 404)
        }
    }
}

/// Log lines collected by `CapturingLogHandler`.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A log handler that keeps every line (message and metadata) in memory.
struct CapturingLogHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    init(_ sink: LogLines) { self.sink = sink }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        sink.append("\(event.level) \(event.message) \(all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
    }
}
