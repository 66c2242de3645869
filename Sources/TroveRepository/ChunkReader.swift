import TroveContent
import TroveManifest
import TroveStorage

/// Reads chunks back from packs in the order asked: consecutive chunks that lie in one pack in
/// increasing order, with at most `gap` unneeded bytes between them (publish interleaves files'
/// chunks in its packs), are fetched with one ranged GET, several in flight; every chunk is decoded
/// and checked against its digest, so callers never see wrong bytes.
public struct ChunkReader: Sendable {
    public let repository: Repository
    /// Largest single ranged read when merging chunks.
    public var maxRequestBytes = 8 << 20
    /// Unneeded bytes between two chunks of one pack below which they are read with one request.
    /// Smaller than `ReadPlanner.defaultGap` (1 MiB): a file read in order waits for its first bytes,
    /// and separate runs are fetched `readAhead` at a time anyway, so a long gap would delay the
    /// first byte (a cold page through the 30 ms proxy: +40 ms with 1 MiB) to save a request that
    /// runs in parallel. 64 KiB is well under a round trip's worth of transfer.
    public var gap = 64 << 10
    /// Ranged reads in flight while streaming a file.
    public var readAhead = 4

    public init(repository: Repository) { self.repository = repository }

    /// Chunks in increasing order in one pack, read with one request (the gaps between them read along).
    struct Run: Sendable {
        var pack: Digest
        var offset: Int
        var length: Int
        var chunks: [ChunkRef]
    }

    func runs(_ chunks: [ChunkRef]) -> [Run] {
        var out: [Run] = []
        for c in chunks {
            let l = c.location
            if var last = out.last, last.pack == l.pack, l.offset >= last.offset + last.length,
               l.offset - (last.offset + last.length) <= gap, l.offset + l.storedSize - last.offset <= maxRequestBytes {
                last.length = l.offset + l.storedSize - last.offset
                last.chunks.append(c)
                out[out.count - 1] = last
            } else {
                out.append(Run(pack: l.pack, offset: l.offset, length: l.storedSize, chunks: [c]))
            }
        }
        return out
    }

    /// Fetches and verifies one run; returns the decoded chunks in order. The dictionaries it needs are
    /// fetched (or waited for) while the pack bytes are, not after them.
    func fetch(_ run: Run) async throws -> [[UInt8]] {
        let region = ReadPlanner.Region(pack: run.pack, offset: run.offset, length: run.length, chunks: run.chunks)
        async let dictionaries = ReadPlanner(repository: repository).dictionaries(for: [region])
        let stored = try await repository.packBytes(run.pack, offset: run.offset, length: run.length, for: run.chunks[0].digest)
        let dicts = try await dictionaries
        var out: [[UInt8]] = []
        out.reserveCapacity(run.chunks.count)
        try ReadPlanner.decode(region, stored: stored, dictionaries: dicts) { _, bytes in out.append(bytes) }
        return out
    }

    /// Streams the verified bytes of `chunks` in order to `sink`, with bounded read-ahead.
    public func stream(_ chunks: [ChunkRef], to sink: (borrowing [UInt8]) async throws -> Void) async throws {
        let runs = self.runs(chunks)
        guard !runs.isEmpty else { return }
        try await withThrowingTaskGroup(of: (Int, [[UInt8]]).self) { group in
            var next = 0
            var ready: [Int: [[UInt8]]] = [:]
            var emit = 0
            while next < min(readAhead, runs.count) {
                let i = next, r = runs[i]
                group.addTask { (i, try await fetch(r)) }
                next += 1
            }
            while emit < runs.count {
                guard let (i, data) = try await group.next() else { break }
                ready[i] = data
                while let d = ready.removeValue(forKey: emit) {
                    for c in d { try await sink(c) }
                    emit += 1
                    if next < runs.count {
                        let j = next, r = runs[j]
                        group.addTask { (j, try await fetch(r)) }
                        next += 1
                    }
                }
            }
        }
    }

    /// Reads a whole file into memory (for small files and `cat` of modest sizes).
    public func read(_ chunks: [ChunkRef]) async throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(chunks.reduce(0) { $0 + $1.location.rawSize })
        try await stream(chunks) { out.append(contentsOf: $0) }
        return out
    }
}

extension Repository {
    /// Reads `length` bytes at `offset` of a pack, mapping a missing pack or a short read to
    /// `RepositoryError.corrupt` naming the pack (and the chunk that needed it).
    public func packBytes(_ pack: Digest, offset: Int, length: Int, for chunk: Digest) async throws -> [UInt8] {
        let stored: [UInt8]
        do {
            stored = try await store.get(StoreLayout.pack(pack), range: ByteRange(offset: offset, length: length))
        } catch BlobStoreError.notFound {
            throw RepositoryError.corrupt("pack \(pack.hex) is missing (needed for chunk \(chunk.hex))")
        } catch BlobStoreError.invalidRange {
            throw RepositoryError.corrupt("pack \(pack.hex) is shorter than its manifest says")
        }
        guard stored.count == length else {
            throw RepositoryError.corrupt("pack \(pack.hex) returned \(stored.count) of \(length) bytes")
        }
        return stored
    }
}
