import Foundation
import TroveContent
import TroveManifest
import TroveStorage

/// The small cross-project chunk index at `index/shared`: chunks used by more than one project
/// (theme assets, fonts, JavaScript libraries), so a new project's first publish finds them without
/// reading every other project's manifests. A manifest-format SQLite file (its `chunks` table is the
/// index), rebuilt by `trove gc` (and `trove index rebuild`).
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

    /// Rebuilds the index from the latest build of every version of every project: a chunk used by
    /// two or more projects is shared. Returns the number of shared chunks.
    @discardableResult
    public static func rebuild(in repository: Repository, toolVersion: String) async throws -> Int {
        var firstProject: [Digest: (String, ChunkLocation)] = [:]
        var shared: [Digest: ChunkLocation] = [:]
        for project in try await repository.projects() {
            for v in try await repository.versions(of: project) {
                let m = try await repository.manifest(v.current.manifest)
                try m.forEachChunk { d, loc in
                    if let (p, _) = firstProject[d] {
                        if p != project { shared[d] = loc }
                    } else {
                        firstProject[d] = (project, loc)
                    }
                }
            }
        }
        // Stored as a manifest with one pseudo-file holding every shared chunk: the format is reused as is.
        let refs = shared.sorted { $0.key < $1.key }.map { ChunkRef(digest: $0.key, location: $0.value) }
        let record = FileRecord(path: "shared-chunks", kind: .file, size: refs.reduce(0) { $0 + $1.location.rawSize },
                                mode: 0o644, contentType: nil, digest: nil, linkTarget: nil)
        let meta = ManifestMetadata(project: "shared-index", version: "1", buildTime: ISO8601DateFormatter().string(from: Date()),
                                    toolVersion: toolVersion, chunker: .default, dictionary: nil)
        let dir = repository.cacheDirectory.appendingPathComponent("index")
        let bytes = try await BlockingIO.run { try ManifestWriter.encode(tree: [(record, refs)], metadata: meta, directory: dir) }
        try await repository.store.put(StoreLayout.sharedIndex, try ManifestCodec.encode(bytes))
        return refs.count
    }
}
