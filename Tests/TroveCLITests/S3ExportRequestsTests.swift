import Foundation
import S3TestServer
import Testing

/// Whole-version reads on object storage, counted by the S3 test server itself: `trove export` of a
/// multi-pack version costs one ranged GET per pack plus the ref, the manifest and the dictionary —
/// not one request or more per file (issue 11: ≤ packs + 5).
@Suite(.serialized, .timeLimit(.minutes(10))) struct S3ExportRequestsTests {
    @Test func exportCostsAboutOneRequestPerPack() async throws {
        // A moto server of its own: its request counter then sees only this test's requests.
        let moto = try await PythonService.start("s3server/moto_launcher.py", ["--port", "0", "--bucket", Moto.bucket])
        defer { moto.stop() }
        let id = UUID().uuidString.prefix(8).lowercased()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trove-export-req-\(id)").path
        try FileManager.default.createDirectory(atPath: work + "/home", withIntermediateDirectories: true)
        let s = S3Env(moto: moto, prefix: "export-\(id)", work: work)
        defer { s.cleanUp() }
        let tree = s.path("tree")
        try DocsTree.write(to: tree)

        let pub = try await s.trove(["publish", "--json", "--pack-size", "512KiB", "docs", "v1", tree])
        try #require(pub.status == 0, "\(pub)")
        let packs = try pub.json().int("packs")
        #expect(packs >= 5, "\(packs) packs")

        // A fresh cache (a new reader): the manifest and dictionary are fetched too.
        let env = s.environment()
        let before = try await Moto.stats(moto)["requests"] ?? 0
        let out = s.path("out")
        let ex = try await s.trove(["export", "--json", "docs", "v1", out], env)
        let after = try await Moto.stats(moto)["requests"] ?? 0
        try #require(ex.status == 0, "\(ex)")
        #expect(try treesIdentical(tree, out))
        let e = try ex.json()
        let served = after - before - 1 // the second stats request counts itself
        let client = e.object("requests")
        #expect(served <= packs + 5, "\(served) requests on the server for \(packs) packs: \(client)")
        #expect(client.int("gets") + client.int("heads") == served, "client \(client), server \(served)")
        print("export on moto: \(e.int("files")) files, \(packs) packs, \(served) requests on the server (client: \(client))")
    }
}
