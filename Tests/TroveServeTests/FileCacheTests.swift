import Foundation
import Synchronization
import Testing
import TroveTesting
import TroveContent
import TroveStorage
@testable import TroveServe
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk cache of large decoded files (`FileCache`), through a real HTTP client (curl): what it
/// sends is byte-identical to the published file, and a changed cache file is never sent.
@Suite(.serialized) struct FileCacheTests {
    static let big = pseudoRandom(3 << 20 + 12345, seed: 41)
    static let medium = pseudoRandom(481 << 10, seed: 42)
    static let files: [String: [UInt8]] = ["html/index.html": text("<p>hi</p>"), "pdf/demo.pdf": big, "html/medium.bin": medium]

    static func counter(_ c: Client, _ name: String) async throws -> Int {
        let m = try await c.get("/metrics").text
        for line in m.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Int(Double(line.split(separator: " ")[1]) ?? -1)
        }
        return 0
    }

    static func withCache<T>(_ h: Harness, bytes: Int = 1 << 30, _ body: (Client, TroveServer, String) async throws -> T) async throws -> T {
        let dir = NSTemporaryDirectory() + "trove-file-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try await h.withServer({ c in
            c.fileCacheDirectory = dir
            c.fileCacheBytes = bytes
            c.refTTL = .seconds(600) // (a stale ref answer sends requests the slow way: keep them on the fast path)
        }) { c, server in try await body(c, server, dir) }
    }

    /// The cache files (named by digest) in `dir`.
    static func cached(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.count == 64 }.map { dir + "/" + $0 }.sorted()
    }

    static func stamp(_ path: String) -> stat {
        var st = stat()
        _ = stat(path, &st)
        return st
    }

    @Test func largeFilesAndRangesAreByteIdentical() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Self.files)
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/demo.pdf"
            let first = try await c.get(url) // from chunks; starts the fill
            #expect(first.status == 200)
            #expect(first.body == Self.big)
            #expect(try await c.get("/demo/v1/medium.bin").body == Self.medium)
            await server.fileCache!.settle()
            #expect(Self.cached(dir).count == 2)
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 2)
            let raw = try await Self.counter(c, "trove_serve_fast_path_raw_requests_total")
            for _ in 0..<3 {
                let r = try await c.get(url)
                #expect(r.status == 200)
                #expect(r.body == Self.big)
                #expect(r["content-length"] == String(Self.big.count))
                #expect(try await c.get("/demo/v1/medium.bin").body == Self.medium)
            }
            // Whole files went out from the socket stage (sendfile), ranges through Hummingbird; all from the cache.
            #expect(try await Self.counter(c, "trove_serve_fast_path_raw_requests_total") >= raw + 6)
            let size = Self.big.count
            for (range, slice) in [("bytes=100-199", 100..<200), ("bytes=-500", (size - 500)..<size),
                                   ("bytes=\(1 << 20)-", (1 << 20)..<size), ("bytes=0-0", 0..<1)] {
                let r = try await c.get(url, headers: ["Range": range])
                #expect(r.status == 206, "\(range)")
                #expect(r.body == Array(Self.big[slice]), "\(range)")
            }
            #expect(try await Self.counter(c, "trove_serve_file_cache_hits_total") >= 10)
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 2)
            // HEAD: the GET's headers, no body.
            let head = try await c.get(url, method: "HEAD")
            #expect(head.status == 200)
            #expect(head["content-length"] == String(size))
        }
    }

    @Test func aTruncatedCacheFileIsDetectedAndRefilled() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Self.files)
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/demo.pdf"
            _ = try await c.get(url)
            await server.fileCache!.settle()
            #expect(try await c.get(url).body == Self.big) // from the cache
            let path = try #require(Self.cached(dir).first)
            #expect(truncate(path, off_t(Self.big.count / 2)) == 0)
            let r = try await c.get(url)
            #expect(r.status == 200)
            #expect(r.body == Self.big)
            #expect(try await Self.counter(c, "trove_serve_file_cache_rejected_total") == 1)
            await server.fileCache!.settle()
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 2)
            #expect(Self.stamp(path).st_size == off_t(Self.big.count))
            #expect(try await c.get(url).body == Self.big)
            #expect(try await c.get(url, headers: ["Range": "bytes=-10"]).body == Array(Self.big.suffix(10)))
        }
    }

    @Test func aFlippedByteIsDetectedAndNeverSent() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Self.files)
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/demo.pdf"
            _ = try await c.get(url)
            await server.fileCache!.settle()
            let path = try #require(Self.cached(dir).first)
            let before = Self.stamp(path)
            let fd = open(path, O_WRONLY)
            try #require(fd >= 0)
            var flipped = Self.big[1000] ^ 0xFF
            // Writes until the file's ctime moves past the fill's (timestamps have a coarse clock tick);
            // the same size and inode: only the timestamps can tell.
            repeat { _ = pwrite(fd, &flipped, 1, 1000) } while Self.stamp(path).st_ctim.tv_nsec == before.st_ctim.tv_nsec
                && Self.stamp(path).st_ctim.tv_sec == before.st_ctim.tv_sec
            close(fd)
            #expect(Self.stamp(path).st_size == before.st_size)
            let r = try await c.get(url)
            #expect(r.body == Self.big) // the flipped byte would be at 1000
            let ranged = try await c.get(url, headers: ["Range": "bytes=990-1009"])
            #expect(ranged.body == Array(Self.big[990..<1010]))
            #expect(try await Self.counter(c, "trove_serve_file_cache_rejected_total") == 1)
            await server.fileCache!.settle()
            #expect(try await c.get(url).body == Self.big) // refilled
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 2)
        }
    }

    @Test func aFullCacheEvictsTheLeastRecentlyUsed() async throws {
        let h = Harness()
        let parts = (0..<3).map { pseudoRandom(1 << 20 + $0, seed: 50 + UInt64($0)) }
        try await h.publish("demo", "v1", ["html/index.html": text("x"), "html/a.bin": parts[0], "html/b.bin": parts[1], "html/c.bin": parts[2]])
        try await Self.withCache(h, bytes: (2 << 20) + (1 << 19)) { (c: Client, server: TroveServer, dir: String) async throws in
            for (i, name) in ["a", "b", "c"].enumerated() {
                #expect(try await c.get("/demo/v1/\(name).bin").body == parts[i])
                await server.fileCache!.settle()
            }
            #expect(server.fileCache!.bytes <= (2 << 20) + (1 << 19))
            #expect(Self.cached(dir).count == 2)
            #expect(try await Self.counter(c, "trove_serve_file_cache_evictions_total") == 1)
            for (i, name) in ["a", "b", "c"].enumerated() {
                #expect(try await c.get("/demo/v1/\(name).bin").body == parts[i])
            }
        }
    }

    @Test func twoConnectionsFillingTheSameFileMakeOneFill() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Self.files)
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/demo.pdf"
            async let a = c.get(url)
            async let b = c.get(url)
            let (ra, rb) = try await (a, b)
            #expect(ra.body == Self.big)
            #expect(rb.body == Self.big)
            await server.fileCache!.settle()
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 1)
            #expect(Self.cached(dir).count == 1)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).count == 1) // no temp files left
        }
    }

    /// On a cold node the first whole-file reads follow the fill instead of fetching the chunks
    /// themselves: three readers at once, and the pack bytes of the file come from the store once.
    @Test func theFirstReadersFollowTheFillAndTheStoreIsReadOnce() async throws {
        let h = Harness()
        // Larger than a read-ahead block (4 MiB), so no read-ahead of its neighbours adds to the count.
        let large = pseudoRandom(5 << 20 + 777, seed: 43)
        try await h.publish("demo", "v1", ["pdf/large.pdf": large, "html/index.html": text("<p>hi</p>")])
        let m = try await h.repository.openVersion("demo", "v1")
        let stored = try m.chunks(of: try #require(try m.file(at: "pdf/large.pdf"))).reduce(0) { $0 + $1.location.storedSize }
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/large.pdf"
            let before = h.store.bytesRead(prefix: "packs/")
            async let a = c.get(url)
            async let b = c.get(url)
            async let d = c.get(url)
            let (ra, rb, rd) = try await (a, b, d)
            #expect(ra.body == large && rb.body == large && rd.body == large)
            await server.fileCache!.settle()
            // Every chunk once; the planned reads may take in a few bytes between chunks (here the other
            // file's), never the file a second time.
            let read = h.store.bytesRead(prefix: "packs/") - before
            #expect(read >= stored && read < stored + (64 << 10), "read \(read) of \(stored) stored bytes")
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 1)
            // And once filled, whole-file reads go out of the cache file with no store read at all.
            let after = h.store.reads(prefix: "packs/")
            #expect(try await c.get(url).body == large)
            #expect(h.store.reads(prefix: "packs/") == after)
        }
    }

    /// What a follower of a fill sees: bytes as they are written, then the fill's error if it fails
    /// part way (its answer is then cut short, never completed with other bytes).
    @Test func followersSeeProgressThenTheFillsError() async throws {
        let fill = FileCache.Fill(size: 100)
        let fd = open("/dev/null", O_RDONLY)
        fill.opened(FileCache.ReadHandle(fd: fd))
        async let first = fill.wait(beyond: 0)
        fill.wrote(40)
        #expect(try await first.written == 40)
        let second = Task { try await fill.wait(beyond: 40) }
        fill.finish(FileCacheError("store went away"))
        await #expect(throws: FileCacheError.self) { try await second.value }
        #expect(try await fill.wait(beyond: 10).written == 40) // what was written stays readable
        await #expect(throws: FileCacheError.self) { try await fill.wait(beyond: 40) }
    }

    /// A store that fails pack reads after the first while armed.
    final class FailingPacks: Sendable {
        let state = Mutex((armed: false, reads: 0))
        func check(_ key: ObjectKey) throws {
            guard key.rawValue.hasPrefix("packs/") else { return }
            let fail = state.withLock { s -> Bool in
                s.reads += 1
                return s.armed && s.reads > 1
            }
            if fail { throw BlobStoreError.transient("injected pack read failure") }
        }
    }

    /// A fill whose store reads fail part way: its follower got a 200 and the first bytes, and its
    /// answer is cut short (never completed with other bytes); nothing is left in the cache, and the
    /// next read, with the store back, fills again and is whole.
    @Test func aFillFailingPartWayCutsItsAnswerShortAndTheNextReadIsWhole() async throws {
        let packs = FailingPacks()
        let h = Harness(read: { key, read in
            try packs.check(key)
            return try await read()
        })
        let large = pseudoRandom(5 << 20 + 777, seed: 44)
        try await h.publish("demo", "v1", ["pdf/large.pdf": large, "html/index.html": text("<p>hi</p>")])
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            let url = "/_download/demo/v1/pdf/large.pdf"
            packs.state.withLock { $0 = (armed: true, reads: 0) }
            let cut = try await c.get(url)
            #expect(cut.status == 200 && cut.exitCode != 0, "curl exit \(cut.exitCode)")
            #expect(cut.body.count > 0 && cut.body.count < large.count && Array(large.prefix(cut.body.count)) == cut.body)
            await server.fileCache!.settle()
            #expect(Self.cached(dir).isEmpty)
            packs.state.withLock { $0.armed = false }
            let whole = try await c.get(url)
            #expect(whole.status == 200 && whole.body == large)
            await server.fileCache!.settle()
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).count == 1) // the file, no temp files
        }
    }

    /// A fill that cannot start (the cache directory is gone) leaves the first read to the chunk path:
    /// the answer is still whole and correct.
    @Test func aFillThatCannotStartFallsBackToChunks() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Self.files)
        try await Self.withCache(h) { (c: Client, server: TroveServer, dir: String) async throws in
            try FileManager.default.removeItem(atPath: dir)
            let r = try await c.get("/_download/demo/v1/pdf/demo.pdf")
            #expect(r.status == 200 && r.body == Self.big)
            await server.fileCache!.settle()
            #expect(try await Self.counter(c, "trove_serve_file_cache_fills_total") == 0)
        }
    }

    @Test func startUpRemovesPartialFiles() async throws {
        let h = Harness()
        let dir = NSTemporaryDirectory() + "trove-file-cache-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let hex = String(repeating: "ab", count: 32)
        for name in [hex + ".tmp-1f", hex, "keep.txt"] { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: Data([1])) }
        _ = try FileCache(directory: dir, limit: 1 << 20, threshold: 1, metrics: ServeMetrics())
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["keep.txt"])
        _ = h
    }
}
