/// Where a stored chunk lives: which pack, where inside it, and how it is encoded. The one record of
/// a chunk's place, written in pack trailers (`PackWriter`), manifests and the dedup index alike.
public struct ChunkLocation: Sendable, Hashable, Codable {
    public var pack: Digest
    public var offset: Int
    public var storedSize: Int
    public var rawSize: Int
    public var codec: Codec
    /// The dictionary the chunk was compressed with (`codec == .zstdDictionary` only).
    public var dictionary: Digest?

    public init(pack: Digest, offset: Int, storedSize: Int, rawSize: Int, codec: Codec, dictionary: Digest?) {
        self.pack = pack
        self.offset = offset
        self.storedSize = storedSize
        self.rawSize = rawSize
        self.codec = codec
        self.dictionary = dictionary
    }
}

/// A chunk and where it lives: an entry of a pack's trailer, or one chunk of a file in file order.
public struct ChunkRef: Sendable, Hashable {
    public var digest: Digest
    public var location: ChunkLocation
    public init(digest: Digest, location: ChunkLocation) {
        self.digest = digest
        self.location = location
    }
}
