import Logging
import NIOCore
import Synchronization
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Reads ahead the pack region a cold request touched, so the files stored next to it (a page's CSS,
/// JS and images, published alongside it) are in the chunk cache before the browser asks for them.
///
/// Packs are cut into aligned blocks of `block` bytes (4 MiB: a whole pack as publish writes them).
/// When a request needs chunks that are not cached, `prepare` starts one background read per block
/// they lie in (at most once per block while it is remembered): the manifest's other chunks in that
/// block that are not cached yet, planned into ranged GETs by `ReadPlanner`, verified and put into the
/// chunk cache. It does not wait for them: the request reads its own chunks as before, so its first
/// byte is not delayed. A request whose chunks lie in a block being read ahead waits for that read
/// instead of fetching them a second time. At most `maxReads` blocks are read at once; beyond that no
/// read-ahead is started. Failures are only logged: the request path reads and reports for itself.
final class PackReadAhead: Sendable {
    struct Block: Hashable, Sendable {
        var pack: Digest
        var index: Int
    }

    let repository: Repository
    let cache: ByteCache<ChunkKey>
    let block: Int
    let maxReads: Int
    let logger: Logger
    private let reading = Mutex<[Block: Task<Void, Never>]>([:])
    /// Blocks already read ahead (or found to hold nothing more): not read again.
    private let done = BoundedMap<Block, Bool>(limit: 50_000)

    init(repository: Repository, cache: ByteCache<ChunkKey>, block: Int = 4 << 20, maxReads: Int = 4, logger: Logger) {
        self.repository = repository
        self.cache = cache
        self.block = block
        self.maxReads = maxReads
        self.logger = logger
    }

    /// Before a request reads `chunks` of `manifest`: waits for read-aheads already covering the chunks
    /// it misses, and starts read-ahead of the blocks it touches that have none.
    func prepare(_ manifest: Manifest, _ chunks: [ChunkRef]) async {
        var blocks: [Block] = []
        for c in chunks where !cache.contains(ChunkKey(digest: c.digest, encoded: false)) {
            let b = Block(pack: c.location.pack, index: c.location.offset / block)
            if !blocks.contains(b) { blocks.append(b) }
        }
        guard !blocks.isEmpty else { return }
        var waits: [Task<Void, Never>] = []
        let own = Set(chunks.map(\.digest))
        reading.withLock { inFlight in
            for b in blocks {
                if let t = inFlight[b] { waits.append(t); continue }
                guard done.get(b) == nil, inFlight.count < maxReads else { continue }
                inFlight[b] = Task { [self] in
                    await read(b, of: manifest, skipping: own)
                    done.put(b, true)
                    _ = reading.withLock { $0.removeValue(forKey: b) }
                }
            }
        }
        for t in waits { await t.value }
    }

    /// Reads the block's chunks that the manifest names, that `skipping` (the requesting file's own,
    /// which it reads itself) does not, and that are not cached, into the cache.
    private func read(_ b: Block, of manifest: Manifest, skipping own: Set<Digest>) async {
        do {
            let lo = b.index * block
            let listed = try await BlockingIO.run { try manifest.chunks(inPack: b.pack, from: lo, to: lo + self.block) }
            let wanted = listed.filter { !own.contains($0.digest) && !cache.contains(ChunkKey(digest: $0.digest, encoded: false)) }
            guard !wanted.isEmpty else { return }
            var planner = ReadPlanner(repository: repository)
            planner.concurrency = 2
            let regions = planner.plan(wanted)
            let dictionaries = try await planner.dictionaries(for: regions)
            try await planner.read(regions) { [cache] region, stored in
                try await BlockingIO.run {
                    try ReadPlanner.decode(region, stored: stored, dictionaries: dictionaries) { c, bytes in
                        cache.put(ChunkKey(digest: c.digest, encoded: false), ByteBuffer(bytes: bytes))
                        // A frame sent as is to zstd clients (passthrough) is cached as stored, as
                        // `encodedChunk` does once it has verified it.
                        if c.location.codec == .zstd {
                            let lo = c.location.offset - region.offset
                            cache.put(ChunkKey(digest: c.digest, encoded: true), ByteBuffer(bytes: stored[lo..<(lo + c.location.storedSize)]))
                        }
                    }
                }
            }
        } catch {
            logger.debug("pack read-ahead failed", metadata: ["pack": "\(b.pack.hex)", "error": "\(error)"])
        }
    }
}
