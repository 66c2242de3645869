import Foundation
import Synchronization
import Hummingbird
import Testing
import TroveContent
import TroveManifest
@testable import TroveServe

/// Random and adversarial inputs for the path normaliser, the Range parser and the other parsers a
/// request reaches: they never crash and never produce a path outside the version.
@Suite struct PropertyTests {
    struct RNG: RandomNumberGenerator {
        var s: UInt64
        mutating func next() -> UInt64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
    }

    static let alphabet: [String] = ["/", "/", "/", ".", ".", "..", "%2e", "%2E", "%2f", "%2F", "%00", "%", "%%", "%g1", "%5c", "\\",
                                     "a", "b", "index.html", "?", "&", "=", "#", "%20", " ", "~", "%c0%ae", "%ff", "é", "%e2%80%ae",
                                     "%0a", "%0d", "%7f", "x%2", "//", "./", "../", "%2e%2e", ".%2e", "%2e.", "\u{0}", "\t"]

    func randomTarget(_ rng: inout RNG) -> String {
        var s = rng.next() % 8 == 0 ? "" : "/"
        for _ in 0..<Int(rng.next() % 24) {
            if rng.next() % 5 == 0 {
                s.unicodeScalars.append(Unicode.Scalar(UInt8(truncatingIfNeeded: rng.next() % 128)))
            } else {
                s += PropertyTests.alphabet[Int(rng.next() % UInt64(PropertyTests.alphabet.count))]
            }
        }
        return s
    }

    @Test func pathNormaliserNeverEscapes() {
        var rng = RNG(s: 0x5EED)
        var accepted = 0
        for _ in 0..<200_000 {
            let target = randomTarget(&rng)
            guard case .success(let p) = RequestPath.parse(target) else { continue }
            accepted += 1
            #expect(p.segments.count <= RequestPath.maxSegments)
            for seg in p.segments {
                #expect(!seg.isEmpty && seg != "." && seg != "..", "\(target.debugDescription)")
                #expect(!seg.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "/") }), "\(target.debugDescription)")
                #expect(seg.utf8.count <= RequestPath.maxSegmentBytes)
            }
            // Joining the segments under any root cannot climb out of it.
            let joined = (["html"] + p.segments).joined(separator: "/")
            #expect(!joined.split(separator: "/", omittingEmptySubsequences: false).contains(".."))
            // Canonical re-encoding round-trips.
            guard case .success(let again) = RequestPath.parse(RequestPath.url(p.segments, trailingSlash: p.trailingSlash)) else {
                Issue.record("canonical form of \(target.debugDescription) does not parse"); continue
            }
            #expect(again.segments == p.segments)
        }
        #expect(accepted > 10_000)
    }

    @Test func dotDotInAnySpellingIsRejected() {
        for dd in ["..", "%2e%2e", "%2E%2E", ".%2e", "%2e.", "%2E."] {
            for target in ["/\(dd)", "/a/\(dd)", "/a/\(dd)/b", "/a/b/\(dd)/", "/\(dd)/\(dd)/etc/passwd"] {
                #expect(RequestPath.parse(target) == .failure(.notFound), "\(target)")
            }
        }
        #expect(RequestPath.parse("/a/%2fb") == .failure(.notFound))
        #expect(RequestPath.parse("/a/%00") == .failure(.notFound))
        #expect(RequestPath.parse("/a/%zz") == .failure(.badRequest))
        #expect(RequestPath.parse("/a/%2") == .failure(.badRequest))
        #expect(RequestPath.parse("a/b") == .failure(.badRequest))
        #expect(RequestPath.parse("/" + String(repeating: "a", count: 5000)) == .failure(.tooLong))
        #expect(RequestPath.parse("/a/./b//c/") == .success(RequestPath(segments: ["a", "b", "c"], trailingSlash: true)))
        #expect(RequestPath.parse("/a%20b/c?x=1").map(\.segments) == .success(["a b", "c"]))
        #expect(RequestPath.parse("/a%20b/c?x=1").map(\.query) == .success("x=1"))
        #expect(RequestPath.parse("/").map(\.segments) == .success([]))
    }

    @Test func rangeParserNeverCrashesAndStaysInBounds() {
        var rng = RNG(s: 42)
        let parts = ["bytes", "=", "-", ",", " ", "0", "1", "9", "99999999999999999999999", "abc", "Bytes", "\u{0}", "=-", "--", "5", "12"]
        for _ in 0..<200_000 {
            var h = ""
            for _ in 0..<Int(rng.next() % 8) { h += parts[Int(rng.next() % UInt64(parts.count))] }
            let size = Int(rng.next() % 5) == 0 ? 0 : Int(rng.next() % 100_000)
            switch RangeRequest.parse(h, size: size) {
            case .full, .unsatisfiable: break
            case .partial(let o, let l):
                #expect(o >= 0 && l >= 1 && o + l <= size, "\(h) size \(size)")
            }
        }
    }

    @Test func rangeParserAgreesWithTheRFC() {
        #expect(RangeRequest.parse("bytes=0-0", size: 10) == .partial(offset: 0, length: 1))
        #expect(RangeRequest.parse("bytes=2-", size: 10) == .partial(offset: 2, length: 8))
        #expect(RangeRequest.parse("bytes=-3", size: 10) == .partial(offset: 7, length: 3))
        #expect(RangeRequest.parse("bytes=-30", size: 10) == .partial(offset: 0, length: 10))
        #expect(RangeRequest.parse("bytes=5-100", size: 10) == .partial(offset: 5, length: 5))
        #expect(RangeRequest.parse("bytes=10-", size: 10) == .unsatisfiable)
        #expect(RangeRequest.parse("bytes=-0", size: 10) == .unsatisfiable)
        #expect(RangeRequest.parse("bytes=0-", size: 0) == .unsatisfiable)
        #expect(RangeRequest.parse("bytes=5-4", size: 10) == .full)
        #expect(RangeRequest.parse("bytes=0-1,3-4", size: 10) == .full)
        #expect(RangeRequest.parse("lines=0-1", size: 10) == .full)
        #expect(RangeRequest.parse(nil, size: 10) == .full)
        #expect(RangeRequest.parse("BYTES=1-2", size: 10) == .partial(offset: 1, length: 2))
    }

    @Test func piecesCoverExactlyTheRange() {
        var rng = RNG(s: 7)
        for _ in 0..<5_000 {
            let n = Int(rng.next() % 12)
            let sizes = (0..<n).map { _ in Int(rng.next() % 50) + 1 }
            let total = sizes.reduce(0, +)
            let chunks = sizes.enumerated().map { i, s in
                ChunkRef(digest: Digest.sha256([UInt8(i)]), location: ChunkLocation(pack: Digest.sha256([]), offset: 0, storedSize: s, rawSize: s, codec: .raw, dictionary: nil))
            }
            guard total > 0 else { #expect(TroveServer.pieces(chunks, offset: 0, length: 0).isEmpty); continue }
            let o = Int(rng.next() % UInt64(total))
            let l = Int(rng.next() % UInt64(total - o)) + 1
            let ps = TroveServer.pieces(chunks, offset: o, length: l)
            #expect(ps.reduce(0) { $0 + $1.count } == l)
            #expect(ps.allSatisfy { $0.lo >= 0 && $0.hi <= $0.chunk.location.rawSize && $0.lo < $0.hi })
        }
    }

    @Test func byteCacheRespectsItsBudget() {
        var rng = RNG(s: 9)
        let cache = ByteCache<Int>(budget: 10_000, maxEntry: 3_000)
        for _ in 0..<20_000 {
            let k = Int(rng.next() % 200)
            if rng.next() % 2 == 0 {
                cache.put(k, ByteBuffer(repeating: UInt8(k % 256), count: Int(rng.next() % 4_000)))
            } else if let b = cache.get(k) {
                #expect(b.readableBytesView.allSatisfy { $0 == UInt8(k % 256) })
            }
            #expect(cache.stats.bytes <= 10_000)
        }
        // Least recently used goes first.
        let small = ByteCache<Int>(budget: 300, maxEntry: 300)
        for k in 0..<3 { small.put(k, ByteBuffer(repeating: 0, count: 100)) }
        _ = small.get(0)
        small.put(3, ByteBuffer(repeating: 0, count: 100))
        #expect(small.get(0) != nil && small.get(1) == nil && small.get(2) != nil && small.get(3) != nil)
    }

    @Test func headerParsers() {
        #expect(TroveServer.acceptsZstd("gzip, deflate, br, zstd"))
        #expect(TroveServer.acceptsZstd("ZSTD;q=0.5"))
        #expect(!TroveServer.acceptsZstd("zstd;q=0"))
        #expect(!TroveServer.acceptsZstd("gzip"))
        #expect(!TroveServer.acceptsZstd("zstdx"))
        #expect(!TroveServer.acceptsZstd(nil))
        #expect(TroveServer.matches("\"a\", \"b\"", "\"b\""))
        #expect(TroveServer.matches("W/\"b\"", "\"b\""))
        #expect(!TroveServer.matches("\"ab\"", "\"b\""))
        var rng = RNG(s: 11)
        for _ in 0..<50_000 {
            var s = ""
            for _ in 0..<Int(rng.next() % 30) { s.unicodeScalars.append(Unicode.Scalar(UInt8(truncatingIfNeeded: rng.next() % 128))) }
            _ = TroveServer.acceptsZstd(s)
            _ = TroveServer.matches(s, "\"x\"")
            _ = AccessPolicy(tokens: ["t"], signingKey: "k").bearerGrants(s, project: "p")
            _ = AccessPolicy(signingKey: "k").signatureGrants(query: Substring(s), project: "p", version: "v", path: "x")
        }
    }

    @Test func accessLogRedactsSignatures() {
        #expect(TroveServer.loggablePath("/p/v/a.pdf?expires=1&signature=abcdef&x=1") == "/p/v/a.pdf?expires=1&signature=REDACTED&x=1")
        #expect(TroveServer.loggablePath("/p/v/a.pdf?signature=abcdef") == "/p/v/a.pdf?signature=REDACTED")
        #expect(TroveServer.loggablePath("/p/v/") == "/p/v/")
        #expect(TroveServer.loggablePath(String(repeating: "a", count: 2000)).count == 512)
    }

    @Test func signaturesAndTokens() {
        let key = "secret"
        let sig = AccessPolicy.signature(key: key, project: "p", version: "v", path: "html/a.html", expires: 2_000_000_000)
        #expect(sig.count == 64)
        let policy = AccessPolicy(privateProjects: ["p"], tokens: ["all", "p:mine", "q:theirs"], signingKey: key)
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        #expect(policy.signatureGrants(query: "expires=2000000000&signature=\(sig)", project: "p", version: "v", path: "html/a.html", now: now))
        #expect(!policy.signatureGrants(query: "expires=2000000000&signature=\(sig)", project: "p", version: "w", path: "html/a.html", now: now))
        #expect(!policy.signatureGrants(query: "expires=2000000000&signature=\(sig)", project: "p", version: "v", path: "html/a.html",
                                        now: Date(timeIntervalSince1970: 2_000_000_001)))
        #expect(!AccessPolicy(privateProjects: ["p"]).signatureGrants(query: "expires=2000000000&signature=\(sig)", project: "p", version: "v", path: "html/a.html", now: now))
        #expect(policy.bearerGrants("Bearer all", project: "p"))
        #expect(policy.bearerGrants("Bearer mine", project: "p"))
        #expect(!policy.bearerGrants("Bearer theirs", project: "p"))
        #expect(!policy.bearerGrants("Bearer ", project: "p"))
        #expect(!policy.bearerGrants(nil, project: "p"))
        // RFC 4231 test case 2.
        let mac = HMACSHA256.mac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String(format: "%02x", $0) }.joined() == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2], [1, 2, 3]))
    }
}

@Suite struct AccessLogLineTests {
    /// Appending never writes: a stalled output (a pipe nobody reads) costs dropped lines, reported
    /// once output resumes, never a blocked caller.
    @Test func aStalledOutputDropsLinesInsteadOfBlocking() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let sink = LogSink(fd: fds[1])
        let line = String(repeating: "x", count: 1023) + "\n"
        // 24 MiB of lines into a pipe that holds 64 KiB: this finishes only because append does no I/O.
        let appended = DispatchSemaphore(value: 0)
        Thread {
            for _ in 0..<(24 << 10) { sink.append(line) }
            appended.signal()
        }.start()
        try #require(appended.wait(timeout: .now() + .seconds(20)) == .success, "append blocked on a stalled output")
        // A plain thread reads the pipe to its end while this one flushes.
        let reader = fds[0]
        let drained = Mutex<[UInt8]>([])
        let done = DispatchSemaphore(value: 0)
        Thread {
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = buf.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                drained.withLock { $0 += buf[0..<n] }
            }
            done.signal()
        }.start()
        sink.flush()
        close(fds[1])
        done.wait()
        close(fds[0])
        let out = drained.withLock { $0 }
        let text = String(decoding: out, as: UTF8.self)
        let lines = text.split(separator: "\n")
        let kept = lines.filter { $0.hasPrefix("xxx") }.count
        #expect(kept >= 16 << 10 && kept < 17 << 10, "kept \(kept) lines")
        let warning = try #require(lines.last)
        #expect(warning.contains("\"msg\":\"log output fell behind; lines dropped\""))
        #expect(warning.contains("\"dropped\":\"\((24 << 10) - kept)\""), "\(warning)")
    }

    /// The direct access log line is byte for byte the line swift-log's path writes (but for the time).
    @Test func directLineMatchesTheLogHandler() {
        let h = JSONLogHandler(label: "trove.serve.access", stream: .standardOutput, level: .info)
        #expect(h.writesPlainLines)
        for (path, bytes) in [("/django/latest/intro/", 27318), ("/a/\"b\"\\c\u{1}\n\t", 0), ("/p/v/f?expires=1&signature=REDACTED", 7),
                              ("/ünï/cödé\u{7F}\u{1F}", Int.max)] {
            let direct = h.accessText(bytes: bytes, cache: "hit", encoding: "identity", method: "GET", path: path, status: 200, us: 17)
            let viaLog = h.render(level: .info, message: "request", metadata: [
                "method": "GET", "path": "\(path)", "status": "200", "bytes": "\(bytes)", "us": "17",
                "cache": "hit", "encoding": "identity",
            ], error: nil)
            func dropTime(_ s: String) -> Substring { s[s.range(of: "\",\"level\"")!.lowerBound...] }
            #expect(dropTime(direct) == dropTime(viaLog))
        }
        // The escapes themselves (both renderings share one quoting function).
        let escaped = h.accessText(bytes: 1, cache: "-", encoding: "identity", method: "GET", path: "/a/\"b\"\\c\u{1}\n\t\u{7F}é",
                                   status: 200, us: 1)
        #expect(escaped.contains(#""path":"/a/\"b\"\\c\u0001\n\t\u007fé","#), "\(escaped)")
        let ts = JSONLogHandler.timestamp()
        #expect(ts.wholeMatch(of: /20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d\d\dZ/) != nil, "\(ts)")
        #expect(TroveServer.loggablePath("/x/y?expires=1&signature=abc&z=1") == "/x/y?expires=1&signature=REDACTED&z=1")
        #expect(TroveServer.loggablePath("/plain/path") == "/plain/path")
    }
}
