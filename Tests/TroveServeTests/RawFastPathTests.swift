import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import TroveTesting
import Testing
import TroveContent
@testable import TroveServe

/// The fast path that answers from the socket's bytes (`RawFastPathHandler`, `RawRequestHead`).
@Suite(.serialized) struct RawFastPathTests {
    static func metric(_ c: Client, _ name: String) async throws -> Int {
        let m = try await c.get("/metrics").text
        for line in m.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(Double(line.split(separator: " ")[1]) ?? -1)
        }
        return 0
    }

    // MARK: The head parser

    @Test func classifiesHeads() {
        func classify(_ s: String) -> RawRequestHead {
            Array(s.utf8).withUnsafeBytes { RawRequestHead.classify($0) }
        }
        #expect(classify("GET /a/b.html HTTP/1.1\r\nHost: x\r\n\r\n")
                == .fast(isHead: false, target: "/a/b.html", acceptEncoding: nil, ifNoneMatch: nil))
        #expect(classify("HEAD /a?q=1 HTTP/1.1\r\nhost: x\r\nIF-NONE-MATCH:  \"e\" \t\r\nAccept-Encoding: zstd\r\nConnection: Keep-Alive\r\n\r\n")
                == .fast(isHead: true, target: "/a?q=1", acceptEncoding: "zstd", ifNoneMatch: "\"e\""))
        #expect(classify("GET / HTTP/1.1\r\n\r\n") == .fast(isHead: false, target: "/", acceptEncoding: nil, ifNoneMatch: nil))
        // Well-formed and bodyless, but answered by the decoder's side.
        for s in ["GET /a HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n",
                  "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
                  "GET /a HTTP/1.1\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n",
                  "GET /a HTTP/1.1\r\nAccept-Encoding: gzip\r\naccept-encoding: zstd\r\n\r\n",
                  ] {
            #expect(classify(s) == .bodyless, "\(s.debugDescription)")
        }
        // Everything else hands the connection over.
        for s in ["POST /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                  "POST /a HTTP/1.1\r\n\r\n",
                  "GeT /a HTTP/1.1\r\n\r\n",
                  "GET /a HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                  "GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                  "GET /a HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
                  "GET /a HTTP/1.1\r\nUpgrade: h2c\r\n\r\n",
                  "GET /a HTTP/1.0\r\n\r\n",
                  "GET /a HTTP/2.0\r\n\r\n",
                  "GET  /a HTTP/1.1\r\n\r\n",
                  "GET /a  HTTP/1.1\r\n\r\n",
                  "GET /a HTTP/1.1\r\nHost : x\r\n\r\n",
                  "GET /a HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
                  "GET /a HTTP/1.1\r\n: empty-name\r\n\r\n",
                  "GET /a HTTP/1.1\r\nX: a\u{0}b\r\n\r\n",
                  "GET /a HTTP/1.1\r\nX: a\nY: b\r\n\r\n",
                  "GET /a HTTP/1.1\r\nX: a\rb\r\n\r\n",
                  "GET /a\u{7F} HTTP/1.1\r\n\r\n",
                  "GET /é HTTP/1.1\r\n\r\n",
                  "CONNECT x:443 HTTP/1.1\r\n\r\n",
                  "GET http://x/a HTTP/1.1\r\n\r\n",
                  "GET * HTTP/1.1\r\n\r\n"] {
            #expect(classify(s) == .other, "\(s.debugDescription)")
        }
    }

    @Test func findsTheEndOfAHead() {
        func end(_ s: String) -> RawRequestHead.End { Array(s.utf8).withUnsafeBytes { RawRequestHead.end(in: $0) } }
        #expect(end("GET / HTTP/1.1\r\n\r\nGET") == .complete(18))
        #expect(end("GET / HTTP/1.1\r\nHost: x\r\n\r\n") == .complete(27))
        #expect(end("GET / HTTP/1.1\r\n\r") == .incomplete)
        #expect(end("GET / HTTP/1.1\r\nHost") == .incomplete)
        #expect(end("GET / HTTP/1.1\n\n\r\n") == .malformed)
        #expect(end("\nGET") == .malformed)
        #expect(end("\r\n\r\n") == .complete(4))
        #expect(end("") == .incomplete)
    }

    /// Differential fuzzing against SwiftNIO's own HTTP/1.1 decoder: whatever `classify` lets through
    /// (`.fast` or `.bodyless`) the decoder must read as exactly one complete request without a body,
    /// with the same method, target and the headers the fast path uses. Random heads are built from
    /// valid pieces and then mutated (bytes flipped, inserted, deleted), so both sides of the line get
    /// exercised; `classify` must never crash on any of them.
    @Test func agreesWithSwiftNIOsDecoder() throws {
        var rng = SplitMix(seed: 0x7E57_AB1E)
        let lines = ["Host: x", "Accept: */*", "If-None-Match: \"abc\"", "If-None-Match: W/\"abc\", \"d\"", "Accept-Encoding: gzip, zstd",
                     "Connection: keep-alive", "Connection: close", "Range: bytes=0-10", "Content-Length: 3", "Transfer-Encoding: chunked",
                     "X-Odd: a\tb", "X-Trail: v  ", "User-Agent: wrk", "Cookie: a=b; c=d", "Upgrade: websocket",
                     "Authorization: Bearer t0k", "COOKIE:  s=1 "]
        let targets = ["/", "/demo/v1/page.html", "/a%20b/?q=1&x", "/_download/p/v/pdf/x.pdf", "*", "http://h/x", "/%2e%2e/x"]
        var accepted = 0, fast = 0
        for round in 0..<4000 {
            var head = "\(["GET", "HEAD", "POST"][Int(rng.next() % 10 == 0 ? 2 : rng.next() % 2)]) \(targets[Int(rng.next() % UInt64(targets.count))]) HTTP/1.1\r\n"
            for _ in 0..<Int(rng.next() % 5) { head += lines[Int(rng.next() % UInt64(lines.count))] + "\r\n" }
            head += "\r\n"
            var bytes = Array(head.utf8)
            if round % 2 == 1 {
                for _ in 0..<Int(1 + rng.next() % 3) {
                    let at = Int(rng.next() % UInt64(bytes.count))
                    let noise: [UInt8] = [0x20, 0x09, 0x0D, 0x0A, 0x00, 0x3A, 0x7F, 0xC3, 0x41, 0x2F]
                    switch rng.next() % 3 {
                    case 0: bytes[at] = noise[Int(rng.next() % UInt64(noise.count))]
                    case 1: bytes.insert(noise[Int(rng.next() % UInt64(noise.count))], at: at)
                    default: bytes.remove(at: at)
                    }
                }
            }
            guard case .complete(let end) = bytes.withUnsafeBytes({ RawRequestHead.end(in: $0) }) else { continue }
            let headBytes = Array(bytes[0..<end])
            let verdict = headBytes.withUnsafeBytes { RawRequestHead.classify($0) }
            guard verdict != .other else { continue }
            accepted += 1

            let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder()))
            var parts: [HTTPServerRequestPart] = []
            do {
                try channel.writeInbound(ByteBuffer(bytes: headBytes))
                while let p = try channel.readInbound(as: HTTPServerRequestPart.self) { parts.append(p) }
            } catch {
                Issue.record("decoder rejected a head classify accepted: \(String(decoding: headBytes, as: UTF8.self).debugDescription): \(error)")
                continue
            }
            _ = try? channel.finish()
            guard parts.count == 2, case .head(let h) = parts[0], case .end = parts[1] else {
                Issue.record("not one bodyless request: \(String(decoding: headBytes, as: UTF8.self).debugDescription) → \(parts)")
                continue
            }
            if case .fast(let isHead, let target, let ae, let inm) = verdict {
                fast += 1
                #expect(h.method == (isHead ? .HEAD : .GET))
                #expect(h.uri == target)
                #expect(h.version == .http1_1)
                #expect(h.headers["if-none-match"].count <= 1)
                #expect(h.headers.first(name: "if-none-match") == inm)
                #expect(h.headers.first(name: "accept-encoding") == ae)
                #expect(h.headers["range"].isEmpty)
                #expect(h.isKeepAlive)
                // The credentials a private project's fast answer is keyed by (`mayReadFromMemory`): the
                // decoder's values, or nil (the slow way) when a header comes twice.
                let credentials = headBytes.withUnsafeBytes { RawRequestHead.values(of: ["cookie", "authorization"], in: UnsafeRawBufferPointer(rebasing: $0[0..<end])) }
                if h.headers["cookie"].count > 1 || h.headers["authorization"].count > 1 {
                    #expect(credentials == nil)
                } else {
                    // (Without the optional whitespace around a value, RFC 9110 §5.5, which the decoder leaves on.)
                    let ows = CharacterSet(charactersIn: " \t")
                    #expect(credentials == [h.headers.first(name: "cookie")?.trimmingCharacters(in: ows),
                                            h.headers.first(name: "authorization")?.trimmingCharacters(in: ows)])
                }
            }
        }
        #expect(accepted > 1000 && fast > 500, "accepted \(accepted), fast \(fast)")
    }

    // MARK: Through a running server

    static let page = "/demo/v1/page.html"

    @Test func headsSplitAcrossReadsAndPipelined() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            _ = try await c.get(Self.page)
            _ = try await c.get("/demo/v1/_static/site.css")
            let reqs: [(String, String, [String: String])] = [
                ("GET", Self.page, [:]),
                ("GET", "/demo/v1/nope.html", [:]),
                ("GET", "/demo/v1/_static/site.css", ["If-None-Match": "\"nope\""]),
                ("HEAD", Self.page, [:]),
                ("GET", "/demo/v1/guide", [:]),
                ("GET", Self.page, ["Range": "bytes=0-9"]),
                ("GET", Self.page, [:]),
            ]
            let wire = Array(reqs.map { rawRequest($0.0, $0.1, $0.2) }.joined().utf8)
            let expected = parseResponses(try await c.raw(wire), methods: reqs.map(\.0))
            #expect(expected.map(\.status) == [200, 404, 200, 200, 301, 206, 200])
            let before = try await Self.metric(c, "trove_serve_fast_path_raw_requests_total")
            let got = try await offPool { () -> [RawResponse] in
                let s = try RawSocket(port: c.port)
                var rng = SplitMix(seed: 42)
                var at = 0
                while at < wire.count {
                    let n = min(wire.count - at, Int(1 + rng.next() % 9))
                    s.send(Array(wire[at..<at + n]))
                    at += n
                    if rng.next() % 4 == 0 { usleep(500) }
                }
                return s.responses(reqs.map(\.0))
            }
            #expect(got == expected)
            // The first page, the css, the HEAD and the last page were answered before the decoder
            // (pieces permitting: the 404, the redirect and the range never are).
            let raw = try await Self.metric(c, "trove_serve_fast_path_raw_requests_total") - before
            #expect(raw >= 1 && raw <= 4, "raw answers: \(raw)")
        }
    }

    @Test func aBodyHandsTheConnectionToTheDecoder() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            _ = try await c.get(Self.page)
            let before = try await Self.metric(c, "trove_serve_fast_path_raw_requests_total")
            let wire = rawRequest("GET", Self.page)
                + "POST \(Self.page) HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                + rawRequest("GET", Self.page)
                + "POST \(Self.page) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                + rawRequest("GET", Self.page)
            let out = parseResponses(try await c.raw(Array(wire.utf8)), methods: ["GET", "POST", "GET", "POST", "GET"])
            #expect(out.map(\.status) == [200, 405, 200, 405, 200])
            #expect(out.filter { $0.status == 200 }.allSatisfy { $0.body == Site.page })
            // Only the first GET was answered from raw bytes; after the first body the decoder reads all.
            #expect(try await Self.metric(c, "trove_serve_fast_path_raw_requests_total") - before == 1)
        }
    }

    @Test func unusualRequestsGetTheSameAnswerWithTheFastPathOnOrOff() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        let odd: [String] = [
            "GET \(Self.page) HTTP/1.0\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\nHost: x\n\n",
            "get \(Self.page) HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"a\"\r\nIf-None-Match: \"b\"\r\n\r\n",
            "GET http://localhost\(Self.page) HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET \(Self.page)\u{0} HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /demo/v1/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET \(Self.page) HTTP/1.1\r\nHost: x\r\nX-Long: \(String(repeating: "a", count: 20_000))\r\n\r\n",
        ]
        func answers(fast: Bool) async throws -> [[UInt8]] {
            try await h.withServer({ $0.fastPath = fast }) { (c: Client, _: TroveServer) async throws in
                _ = try await c.get(Self.page)
                var out: [[UInt8]] = []
                for r in odd {
                    let bytes = try await c.raw(Array(r.utf8))
                    // Drop the Date line: it may differ by a second between the two runs.
                    let text = String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.hasPrefix("date: ") && !$0.hasPrefix("Date: ") }
                    out.append(Array(text.joined(separator: "\r\n").utf8))
                }
                return out
            }
        }
        let on = try await answers(fast: true), off = try await answers(fast: false)
        for (i, r) in odd.enumerated() {
            #expect(on[i] == off[i], "\(r.prefix(80).debugDescription)")
        }
    }

    @Test func rawAnswersKeepAConnectionAliveAndIdleOnesStillClose() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.withServer({ $0.idleTimeout = .seconds(1) }) { (c: Client, _: TroveServer) async throws in
            _ = try await c.get(Self.page)
            let before = try await Self.metric(c, "trove_serve_fast_path_raw_requests_total")
            let (statuses, idleClosed, closed) = try await offPool { () -> ([Int], Bool, Bool) in
                // A connection opened first and never used: the server closing it is the event that
                // says the idle timeout has passed since `s` was opened (no sleeps, no clock).
                let idle = try RawSocket(port: c.port)
                let s = try RawSocket(port: c.port, timeout: 60)
                var statuses: [Int] = []
                // Requests back to back on `s` (raw answers only) until the server has closed `idle`,
                // then one more: `s` outlived the idle timeout because it was busy.
                while !idle.closedYet() && statuses.count < 50_000 {
                    s.send(Array(rawRequest("GET", Self.page).utf8))
                    statuses += s.responses(["GET"]).map(\.status)
                }
                let idleClosed = idle.closedYet()
                s.send(Array(rawRequest("GET", Self.page).utf8))
                statuses += s.responses(["GET"]).map(\.status)
                // Then `s` goes quiet and is closed in turn (waiting up to the receive timeout).
                return (statuses, idleClosed, s.isClosedByPeer())
            }
            #expect(idleClosed, "the unused connection was never closed")
            #expect(statuses.count >= 2 && statuses.allSatisfy { $0 == 200 }, "\(statuses.filter { $0 != 200 })")
            #expect(closed, "an idle connection is closed after the timeout")
            #expect(try await Self.metric(c, "trove_serve_fast_path_raw_requests_total") - before == statuses.count)
        }
    }
}
