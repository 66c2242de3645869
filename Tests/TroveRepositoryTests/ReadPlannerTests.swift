import Foundation
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// How whole-version reads plan their requests across files (`ReadPlanner`), without a store: the
/// request counts of real exports are in TrovePublishTests' `ReadPlannerTests`.
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
}
