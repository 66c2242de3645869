import Foundation
import TroveContent
import TroveManifest
import TroveStorage

extension Repository {
    /// Writes a manifest for `tree` (records in path order, each with its chunks), stores it under its
    /// digest (zstd-compressed, see `ManifestCodec`) and keeps a copy in the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> (Digest, Int) {
        // Built where the cache keeps manifests, then renamed into the cache under its digest once
        // stored: one file written, not a scratch file plus a copy.
        let dir = cacheDirectory.appendingPathComponent("manifests").path
        let scratch = dir + "/build-\(UUID().uuidString).sqlite"
        let (digest, object) = try await BlockingIO.run {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            do {
                let bytes = try ManifestWriter.write(tree: tree, metadata: metadata, path: scratch)
                return (Digest.sha256(bytes), try ManifestCodec.encode(bytes))
            } catch {
                unlink(scratch)
                throw error
            }
        }
        do {
            try await store.put(StoreLayout.manifest(digest), object)
        } catch {
            unlink(scratch)
            throw error
        }
        let path = manifestCachePath(digest)
        try await BlockingIO.run {
            if rename(scratch, path) != 0 { unlink(scratch) }
        }
        return (digest, object.count)
    }
}
