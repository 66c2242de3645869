import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// What publish knows is already stored: digest → location, built from the project's own manifests
/// (the previous build of this version and the latest build of every other version) and the
/// store's small shared cross-project index. Building it costs one manifest read per version, never a
/// request per chunk, and does not grow with the rest of the store.
///
/// Every source names only packs that gc keeps while this publish runs: committed manifests are gc
/// roots, the shared index names only marked packs, journals keep theirs, and the publish lease holds
/// gc's sweep off until the ref is switched (docs/gc.md).
public struct ChunkIndex: Sendable {
    public private(set) var locations: [Digest: ChunkLocation] = [:]

    public init() {}

    public var count: Int { locations.count }

    @inline(__always)
    public func lookup(_ d: Digest) -> ChunkLocation? { locations[d] }

    public mutating func add(manifest: Manifest) throws {
        locations.reserveCapacity(locations.count + manifest.metadata.chunkCount)
        if locations.isEmpty {
            // Digests are unique within a manifest: nothing to keep from an earlier source.
            try manifest.forEachChunk { d, loc in locations[d] = loc }
        } else {
            try manifest.forEachChunk { d, loc in
                if locations[d] == nil { locations[d] = loc }
            }
        }
    }

    /// Chunks from the shared cross-project index, or from packs that unfinished publishes uploaded
    /// (read from their trailers via the journals).
    public mutating func add(_ chunks: [(Digest, ChunkLocation)]) {
        for (d, loc) in chunks where locations[d] == nil { locations[d] = loc }
    }

    /// Forgets every chunk located in `packs` (found missing or damaged: their chunks are stored again).
    public mutating func remove(packs: Set<Digest>) {
        locations = locations.filter { !packs.contains($0.value.pack) }
    }
}
