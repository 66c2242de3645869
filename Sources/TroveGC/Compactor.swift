import Foundation
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Copies the live chunks of mostly-dead packs into new packs, rewrites the live manifests that
/// used them and switches their refs by compare-and-swap. The packs it copied out of and the
/// manifests it replaced stay marked (a publish that read the old manifests before the switch may
/// still commit a manifest naming those packs); they are *superseded*, and `SupersededSweep`
/// decides them after the sweep's lease drain and re-mark (docs/gc.md).
struct Compactor {
    let repository: Repository
    let marks: MarkDatabase
    let cache: GCCache
    let options: GCOptions

    struct Target {
        var digest: Digest
        var id: Int
        var info: GCCache.PackInfo
        var liveChunks: Int
        var liveBytes: Int
    }

    /// Picks the packs to compact: live fraction below the threshold, emptiest first, within the byte budget.
    static func select(_ packs: [Target], options: GCOptions) -> [Target] {
        guard options.compactBelow > 0 else { return [] }
        let eligible = packs.filter { $0.liveBytes > 0 && Double($0.liveBytes) < options.compactBelow * Double($0.info.payload) }
            .sorted { Double($0.liveBytes) / Double(max(1, $0.info.payload)) < Double($1.liveBytes) / Double(max(1, $1.info.payload)) }
        var out: [Target] = []
        var budget = options.maxCompactBytes
        for t in eligible where t.liveBytes <= budget {
            out.append(t)
            budget -= t.liveBytes
        }
        return out
    }

    /// What a compaction run replaced.
    struct Outcome {
        /// Old manifest → its rewrite (empty in a dry run).
        var replaced: [Digest: Digest] = [:]
        /// The packs compaction copied out of (dry run: would copy out of).
        var supersededPacks: [Digest] = []
        /// The manifests it replaced (dry run: would replace).
        var supersededManifests: [Digest] { Array(replaced.keys) + wouldReplace }
        var wouldReplace: [Digest] = []
        /// When the last ref switch was done: readers that take no lease (serve) may read an old
        /// manifest until `GCOptions.readerSettle` after it.
        var switchedAt: ContinuousClock.Instant?
    }

    /// Runs compaction of `targets`; updates `report.compaction`.
    func run(_ targets: [Target], roots: Roots, report: inout GCReport) async throws -> Outcome {
        guard !targets.isEmpty else { return Outcome() }
        var c = report.compaction
        defer { report.compaction = c }
        if options.dryRun {
            for t in targets {
                c.packs += 1; c.packBytes += t.info.size
                c.chunksCopied += t.liveChunks; c.bytesCopied += t.liveBytes
                c.deadChunks += t.info.chunks - t.liveChunks; c.deadBytes += t.info.payload - t.liveBytes
            }
            let rewritten = try await BlockingIO.run { [marks] in try marks.manifests(usingPacks: targets.map(\.id)) }
            c.manifestsRewritten = rewritten.count
            return Outcome(supersededPacks: targets.map(\.digest), wouldReplace: rewritten)
        }

        // 1. Copy live chunks (each verified against its digest) into new packs.
        var relocated: [Digest: [Int: ChunkLocation]] = [:]   // old pack → offset → new location
        var done: [Target] = []
        var writer = PackWriter(capacity: options.packSize + (64 << 10))
        var pending: [(old: Digest, offset: Int)] = []
        func flush() async throws {
            guard !writer.isEmpty else { return }
            let pack = writer.finish()
            writer = PackWriter(capacity: options.packSize + (64 << 10))
            try await repository.store.put(StoreLayout.pack(pack.digest), pack.bytes)
            c.newPacks += 1
            c.newPackBytes += pack.bytes.count
            let (info, digest) = (GCCache.PackInfo(size: pack.bytes.count, payload: pack.payloadSize, chunks: pack.entries.count), pack.digest)
            try await BlockingIO.run { [cache] in cache.store(info, for: digest) }
            for (p, e) in zip(pending, pack.entries) { relocated[p.old, default: [:]][p.offset] = e.location }
            pending.removeAll()
        }
        let decompressor = ZstdDecompressor()
        for t in targets {
            try Task.checkCancellation()
            let bytes: [UInt8]
            do { bytes = try await repository.store.get(StoreLayout.pack(t.digest)) } catch BlobStoreError.notFound {
                throw GCError.missingLiveObject("live pack \(t.digest.hex) is missing")
            }
            guard Digest.sha256(bytes) == t.digest else { c.skipped.append("\(t.digest.hex): content does not match its name"); continue }
            let entries = try PackReader.entries(fromTail: bytes, packSize: bytes.count, pack: t.digest)
            let liveEntries = try await BlockingIO.run { [marks] in try marks.liveEntries(packID: t.id) }
            let live = Dictionary(liveEntries.map { ($0.offset, $0.size) }, uniquingKeysWith: { a, _ in a })
            var copy: [(digest: Digest, at: ChunkLocation)] = []
            for e in entries where live[e.location.offset] == e.location.storedSize { copy.append((e.digest, e.location)) }
            guard copy.count == live.count else { c.skipped.append("\(t.digest.hex): manifests name chunks its trailer does not list"); continue }
            var dicts: [Digest: ZstdDictionary] = [:]
            for d in Set(copy.compactMap(\.at.dictionary)) { dicts[d] = try await repository.dictionary(d) }
            var ok = true
            bytes.withUnsafeBytes { raw in
                for (digest, e) in copy {
                    let stored = UnsafeRawBufferPointer(rebasing: raw[e.offset..<(e.offset + e.storedSize)])
                    do {
                        _ = try ChunkCodec.decode(stored, codec: e.codec, rawSize: e.rawSize, digest: digest,
                                                  dictionary: e.dictionary.flatMap { dicts[$0] }, decompressor: decompressor)
                    } catch { ok = false; return }
                }
            }
            guard ok else { c.skipped.append("\(t.digest.hex): a live chunk does not decode to its digest"); continue }
            for (digest, e) in copy {
                bytes.withUnsafeBytes { raw in
                    writer.append(digest: digest, stored: UnsafeRawBufferPointer(rebasing: raw[e.offset..<(e.offset + e.storedSize)]),
                                  rawSize: e.rawSize, codec: e.codec, dictionary: e.dictionary)
                }
                pending.append((t.digest, e.offset))
                if writer.payloadSize >= options.packSize { try await flush() }
            }
            done.append(t)
            c.packs += 1; c.packBytes += t.info.size
            c.chunksCopied += t.liveChunks; c.bytesCopied += t.liveBytes
            c.deadChunks += t.info.chunks - t.liveChunks; c.deadBytes += t.info.payload - t.liveBytes
        }
        try await flush()
        guard !done.isEmpty else { return Outcome() }

        // 2. Rewrite every marked manifest that names a compacted pack; mark the new ones.
        var replaced: [Digest: Digest] = [:]
        let usingDone = done.map(\.id)
        for old in try await BlockingIO.run({ [marks] in try marks.manifests(usingPacks: usingDone) }) {
            try Task.checkCancellation()
            let m = try await repository.manifest(old)
            var tree: [(FileRecord, [ChunkRef])] = []
            var complete = true
            for f in try m.list() {
                var chunks = f.kind == .file ? try m.chunks(of: f) : []
                for i in chunks.indices {
                    let l = chunks[i].location
                    if let moved = relocated[l.pack] {
                        guard let n = moved[l.offset] else { complete = false; break }
                        chunks[i].location = n
                    }
                }
                tree.append((f, chunks))
            }
            guard complete else { c.skipped.append("manifest \(old.hex): a chunk was not relocated"); continue }
            let (new, _) = try await repository.storeManifest(tree: tree, metadata: m.metadata)
            let nm = try await repository.manifest(new)
            try await BlockingIO.run { [cache, marks] in
                let summary = try ManifestSummary(manifest: nm)
                cache.store(summary, for: new)
                try marks.mark(manifest: new, summary)
            }
            replaced[old] = new
            c.manifestsRewritten += 1
        }
        try await BlockingIO.run { [marks] in try marks.checkpoint() }

        // 3. Switch refs (current or history entries) from old to new manifests by compare-and-swap.
        for v in roots.versions where v.manifests.contains(where: { replaced[$0] != nil }) {
            let written = try await repository.updateRef(v.project, v.version) { ref in
                var next = ref
                if let n = replaced[next.current.manifest] { next.current.manifest = n }
                for i in next.history.indices { if let n = replaced[next.history[i].manifest] { next.history[i].manifest = n } }
                return next
            }
            if written != nil { c.refsSwitched += 1 }
        }
        return Outcome(replaced: replaced, supersededPacks: done.map(\.digest), switchedAt: .now)
    }
}
