import Synchronization
import TroveContent
import TroveManifest
import TroveStorage

/// Plans and runs whole-version reads (`export`, `verify --deep`): the chunks needed are grouped by
/// pack, sorted by offset and merged into regions, each region is read with one ranged GET, and many
/// regions are in flight at once. A version whose chunks sit in P packs costs about P requests,
/// instead of one or more per file as reading file by file does.
///
/// **Gap threshold.** Two needed byte ranges of one pack are merged into one region when fewer than
/// `gap` unneeded bytes lie between them (default 1 MiB). On object storage a request is a round trip
/// of 20–100 ms; 1 MiB more of a response costs less than that at 100 Mbit/s and up, so one longer
/// read beats two. Packs are 4 MiB, so a region is usually a whole pack or a few large pieces of one.
///
/// **Bounded memory.** A region is at most `maxRegion` stored bytes (default 8 MiB) and at most
/// `concurrency` regions (default 8) are held at once, each only until its consumer returns: at most
/// 64 MiB of stored bytes whatever the size of the version. The plan itself is ~100 bytes per distinct
/// chunk.
public struct ReadPlanner: Sendable {
    public let repository: Repository
    /// Unneeded bytes between two needed ranges of a pack below which they are read as one region.
    public var gap = ReadPlanner.defaultGap
    /// 1 MiB: at 100 Mbit/s and up, reading it costs less than a 20–100 ms round trip.
    public static let defaultGap = 1 << 20
    /// Largest region (stored bytes) read with one request; a single chunk larger than this is still
    /// read whole.
    public var maxRegion = 8 << 20
    /// Regions read (and consumed) at once.
    public var concurrency = 8

    public init(repository: Repository) { self.repository = repository }

    /// A byte range of one pack read with one request, and the distinct chunks inside it, by offset.
    public struct Region: Sendable {
        public var pack: Digest
        public var offset: Int
        public var length: Int
        public var chunks: [ChunkRef]

        public init(pack: Digest, offset: Int, length: Int, chunks: [ChunkRef]) {
            self.pack = pack
            self.offset = offset
            self.length = length
            self.chunks = chunks
        }
    }

    /// The regions that read every distinct chunk (by digest) of `chunks` once, in pack and offset order.
    public func plan(_ chunks: some Sequence<ChunkRef>) -> [Region] {
        var seen = Set<Digest>()
        var byPack: [Digest: [ChunkRef]] = [:]
        for c in chunks where seen.insert(c.digest).inserted { byPack[c.location.pack, default: []].append(c) }
        var out: [Region] = []
        for pack in byPack.keys.sorted(by: { $0.hex < $1.hex }) {
            var list = byPack[pack]!
            list.sort { $0.location.offset < $1.location.offset }
            var current: Region?
            for c in list {
                let l = c.location
                if var r = current {
                    let end = r.offset + r.length
                    let newEnd = max(end, l.offset + l.storedSize)
                    if l.offset - end <= gap, newEnd - r.offset <= maxRegion {
                        r.length = newEnd - r.offset
                        r.chunks.append(c)
                        current = r
                        continue
                    }
                    out.append(r)
                }
                current = Region(pack: pack, offset: l.offset, length: l.storedSize, chunks: [c])
            }
            if let current { out.append(current) }
        }
        return out
    }

    /// The dictionaries the regions' chunks need, each read once (concurrently) before any region is.
    public func dictionaries(for regions: [Region]) async throws -> [Digest: ZstdDictionary] {
        var needed = Set<Digest>()
        for r in regions { for c in r.chunks { if let d = c.location.dictionary { needed.insert(d) } } }
        return try await withThrowingTaskGroup(of: (Digest, ZstdDictionary).self) { group in
            for d in needed { group.addTask { (d, try await repository.dictionary(d)) } }
            var out: [Digest: ZstdDictionary] = [:]
            for try await (d, z) in group { out[d] = z }
            return out
        }
    }

    /// Reads every region (one ranged GET each, `concurrency` at once) and hands its stored bytes to
    /// `consume`, which runs concurrently for different regions and must decode what it needs
    /// (`decode`) before returning: the bytes are released then. The first error cancels the rest.
    public func read(_ regions: [Region],
                     consume: @escaping @Sendable (Region, [UInt8]) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func addNext() {
                guard next < regions.count else { return }
                let r = regions[next]
                next += 1
                group.addTask {
                    let stored = try await repository.packBytes(r.pack, offset: r.offset, length: r.length, for: r.chunks[0].digest)
                    try await consume(r, stored)
                }
            }
            for _ in 0..<max(1, concurrency) { addNext() }
            while try await group.next() != nil { addNext() }
        }
    }

    /// Decodes and verifies each chunk of a region from its stored bytes, in offset order, handing each
    /// to `body`. A chunk that does not decode to its digest (or lies outside the bytes) throws
    /// `RepositoryError.corrupt` naming it and its pack; with `onCorrupt`, it is reported there instead
    /// and the next chunk is decoded (verify lists every bad chunk). CPU work: call it off the
    /// cooperative pool when the region is large.
    public static func decode(_ region: Region, stored: [UInt8], dictionaries: [Digest: ZstdDictionary],
                              onCorrupt: ((ChunkRef, RepositoryError) -> Void)? = nil,
                              _ body: (ChunkRef, [UInt8]) throws -> Void) throws {
        let decompressor = ZstdDecompressor()
        try stored.withUnsafeBytes { all in
            for c in region.chunks {
                let l = c.location
                let lo = l.offset - region.offset
                let bytes: [UInt8]
                do {
                    guard lo >= 0, l.storedSize >= 0, lo <= all.count - l.storedSize else {
                        throw RepositoryError.corrupt("chunk \(c.digest.hex) lies outside the bytes read from pack \(region.pack.hex)")
                    }
                    let slice = UnsafeRawBufferPointer(rebasing: all[lo..<(lo + l.storedSize)])
                    do {
                        bytes = try ChunkCodec.decode(slice, codec: l.codec, rawSize: l.rawSize, digest: c.digest,
                                                      dictionary: l.dictionary.flatMap { dictionaries[$0] }, decompressor: decompressor)
                    } catch let e as CorruptChunkError {
                        throw RepositoryError.corrupt("\(e) (pack \(region.pack.hex))")
                    }
                } catch let e as RepositoryError {
                    guard let onCorrupt else { throw e }
                    onCorrupt(c, e)
                    continue
                }
                try body(c, bytes)
            }
        }
    }
}
