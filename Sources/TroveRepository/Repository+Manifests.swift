import Foundation
import TroveContent
import TroveManifest
import TroveStorage

/// A manifest built and compressed but not yet stored (`Repository.prepareManifest`).
public struct PreparedManifest: Sendable {
    public let digest: Digest
    /// The object to store: the SQLite bytes as one zstd frame (`ManifestCodec`).
    public let object: [UInt8]
    /// The SQLite file, in the cache directory, renamed into the cache once stored.
    let scratch: String
}

extension Repository {
    /// Writes a manifest for `tree` (records in path order, each with its chunks), stores it under its
    /// digest (zstd-compressed, see `ManifestCodec`) and keeps a copy in the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> (Digest, Int) {
        try await storeManifest(try await prepareManifest(tree: tree, metadata: metadata))
    }

    /// Builds and compresses a manifest without storing it, so a caller can build it while the packs it
    /// names are still being written, and store it once they are durable. Follow with `storeManifest(_:)`
    /// or `discard(_:)`.
    public func prepareManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> PreparedManifest {
        // Built where the cache keeps manifests, then renamed into the cache under its digest once
        // stored: one file written, not a scratch file plus a copy.
        let dir = cacheDirectory.appendingPathComponent("manifests").path
        let scratch = dir + "/build-\(UUID().uuidString).sqlite"
        return try await BlockingIO.run {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            do {
                let bytes = try ManifestWriter.write(tree: tree, metadata: metadata, path: scratch)
                return PreparedManifest(digest: Digest.sha256(bytes), object: try ManifestCodec.encode(bytes), scratch: scratch)
            } catch {
                unlink(scratch)
                throw error
            }
        }
    }

    /// Stores a prepared manifest under its digest and moves its SQLite file into the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(_ prepared: PreparedManifest) async throws -> (Digest, Int) {
        do {
            try await store.put(StoreLayout.manifest(prepared.digest), prepared.object)
        } catch {
            discard(prepared)
            throw error
        }
        let path = manifestCachePath(prepared.digest)
        try await BlockingIO.run {
            if rename(prepared.scratch, path) != 0 { unlink(prepared.scratch) }
        }
        return (prepared.digest, prepared.object.count)
    }

    /// Removes a prepared manifest that will not be stored.
    public func discard(_ prepared: PreparedManifest) {
        unlink(prepared.scratch)
    }
}
