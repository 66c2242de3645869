import Foundation
import TroveContent
import TroveManifest
import TroveStorage

extension Repository {
    /// Writes a manifest for `tree` (records in path order, each with its chunks), stores it under its
    /// digest and keeps a copy in the local cache. Returns the digest and size.
    public func storeManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> (Digest, Int) {
        let dir = cacheDirectory.appendingPathComponent("manifests")
        let bytes = try await BlockingIO.run { try ManifestWriter.encode(tree: tree, metadata: metadata, directory: dir) }
        let digest = Digest.sha256(bytes)
        try await store.put(StoreLayout.manifest(digest), bytes)
        try await cacheManifest(bytes, digest: digest)
        return (digest, bytes.count)
    }
}
