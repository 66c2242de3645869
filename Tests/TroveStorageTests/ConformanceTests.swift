import BlobStoreConformance
import Foundation
import Testing
import TroveStorage

@Suite struct ConformanceTests {
    @Test func memoryBackend() async throws {
        try await BlobStoreConformance.run(MemoryBlobStore())
    }

    @Test func localBackend() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("trove-conf-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        try await BlobStoreConformance.run(try LocalBlobStore(root: dir))
    }

    @Test func decoratedStack() async throws {
        let store = MeteredBlobStore(LimitedBlobStore(RetryingBlobStore(MemoryBlobStore()), maxConcurrent: 4))
        try await BlobStoreConformance.run(store)
        #expect(store.snapshot.puts > 1200)
    }
}
