import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveServe
import TroveStorage

/// Serve over manifests written by an attacker with store access (stored under their own digest, so
/// the digest check passes): requests into the version get 502, the server keeps serving everything
/// else, and never sends a body the manifest's file does not hash to.
@Suite struct CraftedManifestServeTests {
    /// Rewrites the live manifest of `demo/v1` with `sql`, stores it under its digest, switches to it.
    func craft(_ h: Harness, _ sql: String) async throws {
        let live = try await h.repository.openVersion("demo", "v1")
        let copy = h.cacheDir + "/craft-\(UUID().uuidString).sqlite"
        try FileManager.default.copyItem(atPath: h.cacheDir + "/manifests/\(live.digest.hex).sqlite", toPath: copy)
        do {
            let db = try SQLiteDatabase(path: copy, mode: .readWriteCreate)
            try db.execute(sql)
        }
        let sqlite = try [UInt8](Data(contentsOf: URL(fileURLWithPath: copy)))
        try await install(h, try ManifestCodec.encode(sqlite), digest: Digest.sha256(sqlite))
    }

    func install(_ h: Harness, _ object: [UInt8], digest: Digest) async throws {
        try await h.repository.store.put(StoreLayout.manifest(digest), object)
        try await h.repository.switchVersion("demo", "v1", to: digest, published: "2026-01-01T00:00:00Z")
    }

    @Test(arguments: [
        "UPDATE chunks SET pack_offset = -100",              // used to kill serve (SIGILL)
        "UPDATE chunks SET stored_size = -1",                 // likewise
        "UPDATE files SET size = size - 10 WHERE path = 'html/page.html'", // used to answer 200, truncated, real ETag
        "UPDATE file_chunks SET chunk_id = (SELECT chunk_id FROM file_chunks WHERE file_id = (SELECT id FROM files WHERE path = 'html/index.html')) WHERE file_id = (SELECT id FROM files WHERE path = 'html/page.html')",
    ])
    func craftedRowsGive502AndTheServerStaysUp(_ sql: String) async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        try await h.publish("other", "v1", Site.files)
        try await craft(h, sql)
        try await h.withServer { (c: Client, _: TroveServer) async throws in
            for _ in 0..<2 {
                let r = try await c.get("/demo/v1/page.html")
                #expect(r.status == 502, "\(sql): \(r)")
                #expect(r.body != Site.page)
            }
            #expect(try await c.get("/other/v1/page.html").body == Site.page)
            #expect(try await c.get("/healthz").status == 200)
        }
    }

    /// A manifest whose frame declares 4 GiB: refused without allocating it, loaded once for many
    /// concurrent requests, and the failure remembered (no request repeats the download).
    @Test func anOversizedManifestIsLoadedOnceAndRefused() async throws {
        let h = Harness()
        try await h.publish("demo", "v1", Site.files)
        var frame: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xE0]
        withUnsafeBytes(of: (UInt64(4) << 30).littleEndian) { frame += $0 }
        let block = UInt32(1) | UInt32(1) << 1 | UInt32(1000) << 3
        frame += [UInt8(block & 0xFF), UInt8(block >> 8 & 0xFF), UInt8(block >> 16 & 0xFF), 0x41]
        let digest = Digest.sha256(frame)
        try await install(h, frame, digest: digest)
        // The failure is remembered longer than this test can take: the count does not depend on timing.
        try await h.withServer({ $0.manifestFailureTTL = .seconds(3600) }) { (c: Client, _: TroveServer) async throws in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 { group.addTask { try await c.get("/demo/v1/page.html").status } }
                var out: [Int] = []
                for try await s in group { out.append(s) }
                return out
            }
            #expect(statuses == Array(repeating: 502, count: 8))
            #expect(try await c.get("/demo/v1/index.html").status == 502)
        }
        #expect(h.store.reads(StoreLayout.manifest(digest)) == 1)
    }
}
