import Foundation
import S3TestServer
import Testing
import TrovePublish
import TroveRepository
import TroveServe
import TroveStorage

/// A cold serve node on the S3 test server (moto, signature checks on) through the fault proxy with
/// 30 ms added to every request: the requests the proxy counts for a version's first page, and that
/// the page's assets then need none.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ColdNodeS3Tests {
    @Test func coldFirstPageAndItsAssetsThroughA30msProxy() async throws {
        let moto = try await Moto.shared()
        let prefix = "cold-" + UUID().uuidString.prefix(8).lowercased()
        let publisher = Harness()
        let direct = Repository(store: try Moto.store(moto, prefix: prefix), cacheDirectory: URL(fileURLWithPath: publisher.cacheDir))
        let tree = try TreeBuilder(ColdNodeTests.site)
        defer { tree.remove() }
        var o = PublishOptions()
        o.threads = 2
        _ = try await Publisher(repository: direct, options: o).publish(project: "docs", version: "v1", from: tree.root)
        // A few more versions, so the node is not in front of a one-version store.
        for i in 0..<5 { _ = try await Publisher(repository: direct, options: o).publish(project: "docs", version: "0.\(i)", from: tree.root) }

        let proxy = try await FaultProxy.start(upstream: moto.endpoint, failRate: 0, faults: "500", latencyMs: 30)
        defer { proxy.stop() }
        let h = Harness()
        let cold = Repository(store: try Moto.store(moto, endpoint: proxy.endpoint, prefix: prefix),
                              cacheDirectory: URL(fileURLWithPath: h.cacheDir + "-cold"))
        try await h.withServer(repository: cold, { c in c.refTTL = .seconds(600) }) { client, _ in
            let before = try await FaultProxy.stats(proxy)["requests"] ?? 0
            try await ColdNodeTests.fetchPageAndAssets(client)
            let requests = (try await FaultProxy.stats(proxy)["requests"] ?? 0) - before
            // Ref, manifest, dictionary, the page's range, the read-ahead of its pack region.
            #expect(requests <= 5, "\(requests) store requests for a cold page and its assets")
            // Made-up versions: one ref GET, one alias GET, one LIST, then nothing more.
            let mid = try await FaultProxy.stats(proxy)["requests"] ?? 0
            for i in 0..<20 { #expect(try await client.get("/docs/nope-\(i)/").status == 404) }
            let misses = (try await FaultProxy.stats(proxy)["requests"] ?? 0) - mid
            #expect(misses <= 3, "\(misses) store requests for 20 made-up versions")
            print("cold node at 30 ms: \(requests) store requests for the first page and its \(ColdNodeTests.assets.count) assets; \(misses) for 20 made-up versions")
        }
    }
}
