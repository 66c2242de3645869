import TroveContent
import TroveRepository
import TroveStorage

enum PackTrailer {
    /// Reads a pack's trailer with ranged GETs (one, when the trailer fits in the last 64 KiB).
    static func entries(_ store: any BlobStore, pack: Digest, size: Int) async throws -> [ChunkRef] {
        let key = StoreLayout.pack(pack)
        let guess = min(size, 64 << 10)
        var tail = try await store.get(key, range: ByteRange(offset: size - guess, length: guess))
        let need = try PackReader.trailerLength(footer: Array(tail.suffix(PackWriter.footerSize)))
        if need > tail.count {
            guard need <= size else { throw GCError.aborted("pack \(pack.hex) has a trailer longer than the pack") }
            tail = try await store.get(key, range: ByteRange(offset: size - need, length: need))
        }
        return try PackReader.entries(fromTail: tail, packSize: size, pack: pack)
    }

    /// Size, payload and chunk count of a pack, from the local cache or its trailer.
    /// The cache is read and written on the blocking-I/O pool.
    static func info(_ store: any BlobStore, cache: GCCache, pack: Digest, size: Int) async throws -> GCCache.PackInfo {
        if let i = try await BlockingIO.run({ cache.packInfo(pack) }), i.size == size { return i }
        let entries = try await entries(store, pack: pack, size: size)
        let payload = entries.map { $0.location.offset + $0.location.storedSize }.max() ?? 0
        let info = GCCache.PackInfo(size: size, payload: max(payload, entries.reduce(0) { $0 + $1.location.storedSize }), chunks: entries.count)
        try await BlockingIO.run { cache.store(info, for: pack) }
        return info
    }
}
