import BlobStoreConformance
import Foundation
import Testing
import TroveStorage
import TroveTesting

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

    /// A store that loses the last byte of every read breaks several checks; the suite names each of
    /// them (and each broken expectation), not only the first.
    @Test func reportsEveryFailingCheck() async throws {
        let lossy = HookedStore(MemoryBlobStore(), read: { _, read in
            let blob = try await read()
            return Blob(bytes: Array(blob.bytes.dropLast()), etag: blob.etag)
        })
        let failure = await #expect(throws: ConformanceFailure.self) { try await BlobStoreConformance.run(lossy) }
        let lines = failure?.message.split(separator: "\n").map(String.init) ?? []
        for check in ["put then get round-trips bytes", "byte ranges", "conditional writes", "overwrite replaces the whole object"] {
            #expect(lines.contains { $0.hasPrefix(check + ": ") }, "\(check) not reported in \(lines)")
        }
        #expect(lines.filter { $0.hasPrefix("put then get round-trips bytes: ") }.count == 2, "both round trips: \(lines)")
        #expect(!lines.contains { $0.hasPrefix("list by prefix") || $0.hasPrefix("delete is idempotent") }, "\(lines)")
    }
}
