import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
import TroveGC
@testable import TrovePublish
import TroveTesting

/// Whole-version reads plan their requests across files (`ReadPlanner`): about one request per pack.
@Suite struct ReadPlannerTests {
    /// A multi-pack version exported from a cold cache through a metered store: the ref, the manifest,
    /// the dictionary and one ranged GET per pack — not one or more per file.
    @Test func exportCostsOneRequestPerPackPlusAFew() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<240 { try fx.write(tree, "html/\(i % 12)/page-\(i).html", page(i, date: "2026-01-0\(i % 9 + 1)")) }
        try fx.write(tree, "html/empty.txt", [])
        try fx.write(tree, "pdf/manual.pdf", pseudoRandom(3 << 20, seed: 5))
        try fx.write(tree, "bin/tool", pseudoRandom(20 << 10, seed: 6), mode: 0o755)
        try FileManager.default.createSymbolicLink(atPath: tree + "/html/latest.html", withDestinationPath: "0/page-0.html")
        var o = PublishOptions()
        o.packSize = 512 << 10
        let report = try await fx.publish("p", "v", tree, options: o)
        let packs = try fx.packFiles().count
        #expect(packs >= 6, "\(packs) packs")

        let metered = MeteredBlobStore(try LocalBlobStore(root: URL(fileURLWithPath: fx.storeRoot)))
        let reader = Repository(store: metered, cacheDirectory: fx.root.appendingPathComponent("cold-cache"))
        let m = try await reader.openVersion("p", "v")
        let dest = fx.root.appendingPathComponent("out").path
        let r = try await Exporter(repository: reader).export(m, to: dest)
        let n = metered.snapshot
        #expect(try fx.identical(tree, dest))
        #expect(r.files == report.files && r.symlinks == 1)
        #expect(n.total <= packs + 5, "\(n) for \(packs) packs")
        #expect(n.puts == 0 && n.lists == 0 && n.deletes == 0)
        print("export through MeteredBlobStore: \(r.files) files, \(packs) packs, \(n.total) requests (\(n.gets) GETs, \(n.heads) HEADs)")
    }

    /// verify --deep reads through the planner too: one whole-pack GET per pack, every chunk decoded.
    @Test func deepVerifyReadsEachPackOnce() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<60 { try fx.write(tree, "html/page-\(i).html", page(i, date: "x")) }
        try fx.write(tree, "data.bin", pseudoRandom(1 << 20, seed: 9))
        var o = PublishOptions()
        o.packSize = 256 << 10
        let report = try await fx.publish("p", "v", tree, options: o)
        let packs = try fx.packFiles().count
        let before = fx.metered.snapshot
        let v = try await Verifier(repository: fx.repository, deep: true).run()
        let n = fx.metered.snapshot
        #expect(v.ok, "\(v.problems)")
        #expect(v.packs == packs && v.chunksChecked == report.newChunks, "\(v.chunksChecked) chunks checked, \(report.newChunks) stored")
        #expect(n.gets - before.gets <= packs + 3, "\(n.gets - before.gets) GETs for \(packs) packs")
    }
}
