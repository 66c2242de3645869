import Foundation
import TroveContent
import TroveRepository
import TroveStorage

/// The packs compaction copied out of and the manifests it replaced, in this run. They stay marked
/// (the sweep's candidate loop never sees them) and are decided here, after the lease drain and the
/// re-mark (docs/gc.md, "Superseded objects"):
///
/// * a superseded manifest goes when no ref names it any more (`live`: the manifests the refs named
///   at the re-mark and right after compaction, which the shared index was built from) and it is
///   older than the grace cutoff;
/// * a superseded pack goes when every marked manifest that uses it is a superseded manifest going
///   in this run (so no live manifest, none the shared index was built from and none a racing
///   publish committed uses it), no fresh publish journal names it, and it is older than the cutoff.
///
/// Manifests are deleted before packs, so no manifest is ever left naming a deleted pack.
struct SupersededSweep {
    let marks: MarkDatabase
    let manifests: [Digest]
    let packs: [Digest]

    init(marks: MarkDatabase, compaction: Compactor.Outcome) {
        self.marks = marks
        self.manifests = compaction.supersededManifests.sorted { $0.hex < $1.hex }
        self.packs = compaction.supersededPacks.sorted { $0.hex < $1.hex }
    }

    var isEmpty: Bool { manifests.isEmpty && packs.isEmpty }

    struct Item {
        var key: ObjectKey
        var digest: Digest
        var size: Int
    }

    struct Plan {
        var manifests: [Item] = []
        var packs: [Item] = []
    }

    /// What may go, given the live manifests, the packs fresh journals name and the grace cutoff.
    /// Anything the listing did not show (size or time unknown) is kept.
    func plan(live: Set<Digest>, journaled: Set<Digest>, cutoff: Date) throws -> Plan {
        var plan = Plan()
        var going = Set<Int>()
        for d in manifests where !live.contains(d) {
            guard let l = try marks.listed(.manifest, d), let size = l.size, let t = l.modified, t <= cutoff else { continue }
            plan.manifests.append(Item(key: StoreLayout.manifest(d), digest: d, size: size))
            going.insert(l.id)
        }
        for d in packs where !journaled.contains(d) {
            guard let l = try marks.listed(.pack, d), let size = l.size, let t = l.modified, t <= cutoff else { continue }
            guard try marks.manifestIDs(usingPack: l.id).allSatisfy(going.contains) else { continue }
            plan.packs.append(Item(key: StoreLayout.pack(d), digest: d, size: size))
        }
        return plan
    }

    enum Outcome { case deleted, pending }

    /// Counts a plan in the report without deleting (dry run: `.deleted`; deferred sweep: `.pending`).
    /// The objects were counted live by the listing; they move out of `live`. `packChunks`: the chunks
    /// of deleted packs, as far as the cache knows them (`cachedChunks`).
    static func count(_ plan: Plan, as outcome: Outcome, packChunks: [Digest: Int] = [:], into report: inout GCReport) {
        for m in plan.manifests { tally(m, outcome, &report.manifests) }
        for p in plan.packs {
            tally(p, outcome, &report.packs)
            if outcome == .deleted, let chunks = packChunks[p.digest] { report.chunksReclaimed += chunks }
        }
        if outcome == .deleted {
            report.compaction.oldManifestsDeleted += plan.manifests.count
            report.compaction.oldPacksDeleted += plan.packs.count
        }
    }

    /// The chunk counts the cache holds for a plan's packs (SQLite: call it on the blocking-I/O pool).
    static func cachedChunks(_ plan: Plan, cache: GCCache) -> [Digest: Int] {
        var out: [Digest: Int] = [:]
        for p in plan.packs { if let info = cache.packInfo(p.digest) { out[p.digest] = info.chunks } }
        return out
    }

    private static func tally(_ item: Item, _ outcome: Outcome, _ o: inout GCReport.Objects) {
        o.live -= 1; o.liveBytes -= item.size
        switch outcome {
        case .deleted: o.deleted += 1; o.deletedBytes += item.size
        case .pending: o.pending += 1; o.pendingBytes += item.size
        }
    }

    /// Deletes a plan, manifests first, in batches; before every batch the lock is renewed and
    /// checked. `afterBatch` runs after each (the `deleted-N` step).
    static func delete(_ plan: Plan, store: any BlobStore, lock: GCLock, batchSize: Int, cache: GCCache,
                       report: inout GCReport, afterBatch: () async throws -> Void) async throws {
        for (kind, items) in [(MarkDatabase.Kind.manifest, plan.manifests), (.pack, plan.packs)] {
            var start = 0
            while start < items.count {
                try Task.checkCancellation()
                let batch = Array(items[start..<min(items.count, start + batchSize)])
                start += batch.count
                try await lock.renew()
                try await lock.checkValid()
                try await store.delete(batch.map(\.key))
                let done = kind == .manifest ? Plan(manifests: batch) : Plan(packs: batch)
                let chunks = try await BlockingIO.run {
                    let chunks = cachedChunks(done, cache: cache)
                    for item in batch {
                        if kind == .manifest { cache.forgetSummary(item.digest) } else { cache.forgetPack(item.digest) }
                    }
                    return chunks
                }
                count(done, as: .deleted, packChunks: chunks, into: &report)
                try await afterBatch()
            }
        }
    }
}
