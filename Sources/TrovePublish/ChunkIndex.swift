import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// What publish knows is already stored: digest → location, built from the project's own manifests
/// (the previous build of this version and the latest build of every other version) and the
/// store's small shared cross-project index. Building it costs one manifest read per version, never a
/// request per chunk, and does not grow with the rest of the store.
public struct ChunkIndex: Sendable {
    public private(set) var locations: [Digest: ChunkLocation] = [:]
    /// Packs whose existence was taken on trust from the shared index (checked once each before use).
    public private(set) var sharedPacks: Set<Digest> = []

    public init() {}

    public var count: Int { locations.count }

    @inline(__always)
    public func lookup(_ d: Digest) -> ChunkLocation? { locations[d] }

    public mutating func add(manifest: Manifest) throws {
        try manifest.forEachChunk { d, loc in
            if locations[d] == nil { locations[d] = loc }
        }
    }

    public mutating func add(shared: [(Digest, ChunkLocation)]) {
        for (d, loc) in shared where locations[d] == nil {
            locations[d] = loc
            sharedPacks.insert(loc.pack)
        }
    }

    /// Chunks in packs that unfinished publishes uploaded (read from their trailers via the journals).
    public mutating func add(resumed: [(Digest, ChunkLocation)]) {
        for (d, loc) in resumed where locations[d] == nil { locations[d] = loc }
    }

    /// Forgets every chunk stored in `packs` (used when a pack named by the shared index is gone).
    public mutating func drop(packs: Set<Digest>) {
        guard !packs.isEmpty else { return }
        locations = locations.filter { !packs.contains($0.value.pack) }
        sharedPacks.subtract(packs)
    }
}
