import Foundation
import TroveContent
import TroveManifest
import TroveStorage

/// The small cross-project chunk index at `index/shared`: chunks used by more than one project
/// (theme assets, fonts, JavaScript libraries), so a new project's first publish finds them without
/// reading every other project's manifests. A manifest-format SQLite file (its `chunks` table is the
/// index), rebuilt by `trove gc` and `trove index rebuild` (TroveGC's `SharedIndexBuilder`).
public enum SharedIndex {
    /// The index's chunks, or nil when the store has none yet.
    public static func load(from repository: Repository) async throws -> [(Digest, ChunkLocation)]? {
        let object: [UInt8]
        do { object = try await repository.store.get(StoreLayout.sharedIndex) } catch BlobStoreError.notFound { return nil }
        let bytes: [UInt8]
        do { bytes = try ManifestCodec.decode(object, digest: nil, name: StoreLayout.sharedIndex.rawValue) }
        catch { throw RepositoryError.corrupt("\(error)") }
        let digest = Digest.sha256(bytes)
        let dir = repository.cacheDirectory.appendingPathComponent("index")
        let path = dir.appendingPathComponent("shared-\(digest.hex).sqlite").path
        return try await BlockingIO.run {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: path) { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
            let m = try Manifest(path: path, digest: digest)
            var out: [(Digest, ChunkLocation)] = []
            try m.forEachChunk { out.append(($0, $1)) }
            return out
        }
    }
}
