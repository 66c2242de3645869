import Foundation
import TroveContent
import TroveManifest
import TroveStorage

extension Repository {
    /// Writes a manifest for `tree` (records in path order, each with its chunks), stores it under its
    /// digest (zstd-compressed, see `ManifestCodec`) and keeps a copy in the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> (Digest, Int) {
        let dir = cacheDirectory.appendingPathComponent("manifests")
        let bytes = try await BlockingIO.run { try ManifestWriter.encode(tree: tree, metadata: metadata, directory: dir) }
        let digest = Digest.sha256(bytes)
        let object = try ManifestCodec.encode(bytes)
        try await store.put(StoreLayout.manifest(digest), object)
        try await cacheManifest(bytes, digest: digest)
        return (digest, object.count)
    }
}
