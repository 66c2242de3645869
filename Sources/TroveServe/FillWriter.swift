#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import Synchronization
import TroveContent
import TroveRepository
import TroveStorage

/// Writes a large file's decoded chunks into a file-cache temp file (`FileCache.Fill`), reading them
/// as a whole-version read does rather than file order run by run: chunks already in the chunk cache
/// are written at once; the others are planned by `ReadPlanner` (gap-merged ranged GETs, several in
/// flight), the regions holding the file's first `prefetchBytes` first and on their own so that the
/// fill's followers get their first bytes as soon as a read from chunks would. Each chunk is verified
/// as it is decoded and written (`pwrite`) at every offset where the file has it; the fill learns how
/// much of the file is written from its start.
struct FillWriter {
    let server: TroveServer
    let fill: FileCache.Fill
    let fd: CInt
    /// Regions read at once for one fill (each at most `ReadPlanner.maxRegion`, 8 MiB, while held).
    static let concurrency = 4

    /// Positions of the file (in file order) whose chunk is written, and how far from the start they
    /// are all written.
    final class Prefix: Sendable {
        struct State: ~Copyable {
            var done: [Bool]
            var next = 0
        }
        let sizes: [Int]
        let state: Mutex<State>
        init(sizes: [Int]) {
            self.sizes = sizes
            state = Mutex(State(done: Array(repeating: false, count: sizes.count)))
        }

        /// Marks positions written; returns how many more bytes from the start are written now.
        func mark(_ positions: [Int]) -> Int {
            state.withLock { s in
                for p in positions { s.done[p] = true }
                var grown = 0
                while s.next < s.done.count && s.done[s.next] {
                    grown += sizes[s.next]
                    s.next += 1
                }
                return grown
            }
        }
    }

    func write(_ chunks: [ChunkRef]) async throws {
        // Where each distinct chunk goes: its positions (indices into `chunks`) and their offsets.
        var positions: [Digest: [Int]] = [:]
        var offsets: [Int] = []
        var pos = 0
        for (i, c) in chunks.enumerated() {
            positions[c.digest, default: []].append(i)
            offsets.append(pos)
            pos += c.location.rawSize
        }
        let prefix = Prefix(sizes: chunks.map(\.location.rawSize))
        let fill = fill, fd = fd, positionsOf = positions, offsetOf = offsets
        let place: @Sendable (Digest, UnsafeRawBufferPointer) throws -> Void = { d, bytes in
            let at = positionsOf[d] ?? []
            for p in at {
                do { try FileIO.writeAll(fd, bytes, at: offsetOf[p]) } catch {
                    throw FileCacheError("cannot write a cache file: \(error)")
                }
            }
            let grown = prefix.mark(at)
            if grown > 0 { fill.wrote(grown) }
        }

        // Chunks the chunk cache holds (verified when they entered it).
        var missing: [ChunkRef] = []
        var cached: [(Digest, ByteBuffer)] = []
        var seen = Set<Digest>()
        for c in chunks where seen.insert(c.digest).inserted {
            if let b = server.cache.get(ChunkKey(digest: c.digest, encoded: false)), b.readableBytes == c.location.rawSize {
                cached.append((c.digest, b))
            } else {
                missing.append(c)
            }
        }
        if !cached.isEmpty {
            let hits = cached
            try await BlockingIO.run { for (d, b) in hits { try b.withUnsafeReadableBytes { try place(d, $0) } } }
        }

        // The rest: the regions holding the first bytes on their own, then the others, in file order.
        var planner = ReadPlanner(repository: server.repository)
        planner.concurrency = FillWriter.concurrency
        let first = Set(chunks.prefix(server.prefetchSplit(TroveServer.pieces(chunks, offset: 0, length: pos))).map(\.digest))
        let firstOffset = Dictionary(uniqueKeysWithValues: positions.map { ($0.key, offsets[$0.value[0]]) })
        for part in [missing.filter { first.contains($0.digest) }, missing.filter { !first.contains($0.digest) }] where !part.isEmpty {
            // In file order: by the first file offset any of a region's chunks has.
            let regions = planner.plan(part).map { r in (r.chunks.lazy.compactMap { firstOffset[$0.digest] }.min() ?? 0, r) }
                .sorted { $0.0 < $1.0 }.map(\.1)
            let dictionaries = try await planner.dictionaries(for: regions)
            try await planner.read(regions) { region, stored in
                try await BlockingIO.run {
                    try ReadPlanner.decode(region, stored: stored, dictionaries: dictionaries) { c, bytes in
                        try bytes.withUnsafeBytes { try place(c.digest, $0) }
                    }
                }
            }
        }
    }
}
