import Foundation
import Testing
import TroveContent
import TroveStorage
@testable import TroveRepository

/// How a file read in order (`ChunkReader`: serve, `trove cat`) groups its chunks into requests.
@Suite struct ChunkReaderTests {
    func chunk(_ n: Int, pack: Int, offset: Int, size: Int) -> ChunkRef {
        ChunkRef(digest: Digest.sha256(Array("c\(n)".utf8)), location: ChunkLocation(
            pack: Digest.sha256(Array("p\(pack)".utf8)), offset: offset, storedSize: size, rawSize: size, codec: .raw, dictionary: nil))
    }

    /// Publish interleaves files' chunks in its packs: a file's chunks lie in increasing order with
    /// other files' bytes between them. Those gaps are read along (one request), up to `gap` and
    /// `maxRequestBytes`; going backwards or to another pack starts a new request.
    @Test func interleavedChunksOfOnePackAreOneRequest() {
        var r = ChunkReader(repository: Repository(store: MemoryBlobStore(), cacheDirectory: URL(fileURLWithPath: "/nonexistent")))
        r.gap = 100
        r.maxRequestBytes = 1000
        let a = chunk(1, pack: 1, offset: 0, size: 200), b = chunk(2, pack: 1, offset: 250, size: 200) // gap 50: one run
        let c = chunk(3, pack: 1, offset: 500, size: 100)   // gap 50 again: same run (0..<600)
        let d = chunk(4, pack: 1, offset: 750, size: 100)   // gap 150: a new run
        let e = chunk(5, pack: 1, offset: 860, size: 600)   // would make 750..<1460 > 1000? no: 710 long, same run
        let f = chunk(6, pack: 1, offset: 100, size: 50)    // backwards: a new run
        let g = chunk(7, pack: 2, offset: 150, size: 10)    // another pack: a new run
        let runs = r.runs([a, b, c, d, e, f, g])
        #expect(runs.map(\.offset) == [0, 750, 100, 150])
        #expect(runs.map(\.length) == [600, 710, 50, 10])
        #expect(runs.map { $0.chunks.map(\.digest) } == [[a, b, c].map(\.digest), [d, e].map(\.digest), [f.digest], [g.digest]])
        // The request size limit splits too.
        r.maxRequestBytes = 500
        #expect(r.runs([a, b, c]).map(\.length) == [450, 100])
    }
}
