import Foundation
import TroveContent
import TroveManifest
import TroveStorage

/// The small cross-project chunk index at `index/shared`: chunks used by more than one project
/// (theme assets, fonts, JavaScript libraries), so a new project's first publish finds them without
/// reading every other project's manifests. A manifest-format SQLite file (its `chunks` table is the
/// index), rebuilt by `trove gc` and `trove index rebuild` (TroveGC's `SharedIndexBuilder`).
public enum SharedIndex {
    /// The index's chunks, from the local cache when the copy there is the one the gc lock names
    /// (`digest`, from `GCLockDocument.sharedIndex`), else downloaded; nil when the lock names none.
    /// An index that is not the one the lock names is not used: gc's safety argument covers only the
    /// index it wrote under the lock (docs/gc.md).
    public static func load(from repository: Repository, digest: Digest?) async throws -> [(Digest, ChunkLocation)]? {
        guard let digest else { return nil }
        let dir = repository.cacheDirectory.appendingPathComponent("index")
        let path = dir.appendingPathComponent("shared-\(digest.hex).sqlite").path
        if !FileManager.default.fileExists(atPath: path) {
            let object: [UInt8]
            do { object = try await repository.store.get(StoreLayout.sharedIndex) } catch BlobStoreError.notFound { return nil }
            let bytes: [UInt8]
            do { bytes = try ManifestCodec.decode(object, digest: nil, name: StoreLayout.sharedIndex.rawValue) }
            catch { throw RepositoryError.corrupt("\(error)") }
            guard Digest.sha256(bytes) == digest else { return nil }
            try await repository.cacheFile(bytes, at: path)
        }
        return try await BlockingIO.run {
            let m = try Manifest(path: path, digest: digest)
            var out: [(Digest, ChunkLocation)] = []
            try m.forEachChunk { out.append(($0, $1)) }
            return out
        }
    }
}
