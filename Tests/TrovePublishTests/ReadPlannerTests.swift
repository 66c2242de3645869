import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
import TroveGC
@testable import TrovePublish

/// Whole-version reads plan their requests across files (`ReadPlanner`): about one request per pack.
@Suite struct ReadPlannerTests {
    func chunk(_ n: Int, pack: Int, offset: Int, size: Int) -> ChunkRef {
        ChunkRef(digest: Digest.sha256(Array("c\(n)".utf8)), location: ChunkLocation(
            pack: Digest.sha256(Array("p\(pack)".utf8)), offset: offset, storedSize: size, rawSize: size, codec: .raw, dictionary: nil))
    }

    @Test func regionsMergeAcrossSmallGapsUpToTheLimitAndReadEachChunkOnce() throws {
        var p = ReadPlanner(repository: Repository(store: MemoryBlobStore(), cacheDirectory: URL(fileURLWithPath: "/nonexistent")))
        p.gap = 100
        p.maxRegion = 1000
        let a = chunk(1, pack: 1, offset: 0, size: 200), b = chunk(2, pack: 1, offset: 250, size: 200) // gap 50: merged
        let c = chunk(3, pack: 1, offset: 600, size: 100)   // gap 150: a new region
        let d = chunk(4, pack: 1, offset: 700, size: 400)   // adjacent, but 700..1100 would exceed 1000 from 600? no: 500 long
        let e = chunk(5, pack: 1, offset: 1100, size: 600)  // would make the region 1100 long: a new region
        let f = chunk(6, pack: 2, offset: 0, size: 10)
        // Out of order, with repeats (a file using a chunk twice, two files sharing one).
        let regions = p.plan([e, b, f, a, d, c, a, b])
        let packOne = regions.filter { $0.pack == a.location.pack }
        #expect(packOne.map(\.offset) == [0, 600, 1100])
        #expect(packOne.map(\.length) == [450, 500, 600])
        #expect(packOne.map { $0.chunks.map(\.digest) } == [[a.digest, b.digest], [c.digest, d.digest], [e.digest]])
        #expect(regions.filter { $0.pack == f.location.pack }.map(\.chunks.count) == [1])
        #expect(regions.reduce(0) { $0 + $1.chunks.count } == 6)
    }

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
