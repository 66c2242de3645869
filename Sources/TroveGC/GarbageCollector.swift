import Foundation
import Logging
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Mark-and-sweep garbage collection of a Trove store. The protocol, and why it is safe against
/// concurrent publishes and crashes, is in docs/gc.md. In short:
///
/// 1. take `gc/lock`; 2. trim version histories to the retention policy (CAS); 3. mark everything
/// reachable from refs into an on-disk set; 4. list packs, manifests and dictionaries: unmarked and
/// older than the grace period are candidates; 5. compact mostly-dead packs; 6. refresh the shared
/// index; 7. announce `sweeping` in the lock, wait until no publish lease is live, re-read the refs
/// and mark what was committed meanwhile, and delete the candidates that are still unmarked, then
/// the packs and manifests compaction replaced that nothing live still uses (`SupersededSweep`).
public struct GarbageCollector: Sendable {
    public let repository: Repository
    public let options: GCOptions
    let logger: Logger

    public init(repository: Repository, options: GCOptions = GCOptions(), logger: Logger = Logger(label: "trove.gc")) {
        self.repository = repository
        self.options = options
        self.logger = logger
    }

    var store: any BlobStore { repository.store }

    func step(_ s: GCStep) async throws {
        logger.debug("gc step \(s)")
        try await options.hooks.step?(s)
    }

    public func run() async throws -> GCReport {
        let clock = ContinuousClock.now
        var report = GCReport(store: store.displayName, options: options)
        let work = options.workDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("trove-gc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { if options.workDirectory == nil { try? FileManager.default.removeItem(at: work) } }
        let cache = try GCCache(directory: repository.cacheDirectory.appendingPathComponent("gc"))

        let lock = options.dryRun ? nil : try await GCLock.acquire(store, what: "trove gc", ttl: options.lockTTL)
        do {
            try await collect(&report, lock: lock, cache: cache, work: work)
            await lock?.release()
        } catch {
            await lock?.release()
            throw error
        }
        report.total()
        report.seconds = (ContinuousClock.now - clock).seconds
        try await step(.finished)
        return report
    }

    private func collect(_ report: inout GCReport, lock: GCLock?, cache: GCCache, work: URL) async throws {
        try await step(.locked)
        let cutoff = Date().addingTimeInterval(-options.grace.seconds)

        // 1. Retention: trim histories (by CAS) so rollback can never reach a build gc is about to collect.
        var roots = try await repository.readRoots()
        for i in roots.versions.indices {
            let v = roots.versions[i]
            let keep = options.retention.retained(v.ref)
            guard keep.count < v.ref.history.count else { continue }
            report.buildsDropped += v.ref.history.count - keep.count
            if options.dryRun { roots.versions[i].ref.history = keep; continue }
            try await repository.updateRef(v.project, v.version) { ref in
                var next = ref
                next.history = options.retention.retained(ref)
                return next
            }
            if let now = try await repository.ref(v.project, v.version) {
                roots.versions[i].ref = now.ref
                roots.versions[i].etag = now.etag
            } else {
                roots.versions[i].ref.history = []
            }
        }
        report.versions = roots.versions.count
        try await step(.retained)

        // 2. Mark: every build kept by a ref, into the on-disk set.
        let marks = try MarkDatabase(directory: work)
        for d in roots.all {
            try Task.checkCancellation()
            try await mark(d, marks: marks, cache: cache, context: "a live ref")
        }
        try marks.checkpoint()
        report.liveBuilds = marks.markedManifestCount
        try await step(.marked)

        // 3. List what exists: live objects are kept; unmarked ones are candidates once older than the grace.
        //    Packs named by the journal of an unfinished publish are kept while the journal is fresh, so a
        //    re-run after a kill can still reuse them (docs/s3.md, "Resuming a killed publish").
        let journaled = try await journaledPacks(roots.journals)
        try await list(StoreLayout.manifestsPrefix, kind: .manifest, marks: marks, cutoff: cutoff, into: &report.manifests)
        try await list(StoreLayout.packsPrefix, kind: .pack, marks: marks, cutoff: cutoff, keep: journaled, into: &report.packs)
        try await list(StoreLayout.dictsPrefix, kind: .dictionary, marks: marks, cutoff: cutoff, into: &report.dictionaries)
        try marks.checkpoint()
        var targets: [Compactor.Target] = []
        for p in try marks.packLiveness() {
            try Task.checkCancellation()
            guard let size = p.size else {
                let users = try marks.manifestIDs(usingPack: p.id).compactMap { try marks.manifestDigest(id: $0)?.short }
                throw GCError.missingLiveObject("live pack \(p.digest.hex) (used by manifest \(users.prefix(3).joined(separator: ", "))) is missing")
            }
            let info = try await PackTrailer.info(store, cache: cache, pack: p.digest, size: size)
            report.liveChunks += p.liveChunks
            report.liveChunkBytes += p.liveBytes
            report.deadChunksInLivePacks += max(0, info.chunks - p.liveChunks)
            report.deadBytesInLivePacks += max(0, info.payload - p.liveBytes)
            targets.append(.init(digest: p.digest, id: p.id, info: info, liveChunks: p.liveChunks, liveBytes: p.liveBytes))
        }
        for d in try marks.allDictionaries() where try await store.head(StoreLayout.dictionary(d)) == nil {
            throw GCError.missingLiveObject("live dictionary \(d.hex) is missing")
        }
        try await lock?.renew()
        try await step(.listed)

        // 4. Compaction of mostly-dead packs. What it replaced is superseded: decided after the re-mark.
        let compactor = Compactor(repository: repository, marks: marks, cache: cache, options: options)
        let compaction = try await compactor.run(Compactor.select(targets, options: options), roots: roots, report: &report)
        if !compaction.replaced.isEmpty {
            // The refs as switched; the shared index is built from them, so whatever they name is marked.
            roots = try await repository.readRoots()
            for d in roots.all { try await mark(d, marks: marks, cache: cache, context: "a ref read after compaction") }
            try marks.checkpoint()
        }
        let superseded = SupersededSweep(marks: marks, compaction: compaction)
        try await step(.compacted)

        // 5. The shared index, from the (possibly just rewritten) current builds: it names only marked objects.
        if options.rebuildSharedIndex {
            let refreshed = try await SharedIndexBuilder.refresh(repository, roots: roots, workDirectory: work,
                                                                 toolVersion: options.toolVersion, dryRun: options.dryRun)
            report.sharedIndexChunks = refreshed.chunks
            report.sharedIndexRebuilt = refreshed.rebuilt
            try await lock?.recordSharedIndex(refreshed.digest)
        }
        try await step(.indexed)

        let candidateChunks = try await candidatePackChunks(marks: marks, cache: cache)
        if options.dryRun {
            report.chunksReclaimed += candidateChunks
            // Would-be live after compaction: the refs with the replaced manifests switched away (aliases
            // that pin a manifest are not switched).
            let pinned = Set(roots.aliasManifests.map(\.1))
            let live = Set(roots.versions.flatMap(\.manifests)).subtracting(superseded.manifests).union(pinned)
            SupersededSweep.count(try superseded.plan(live: live, journaled: journaled, cutoff: cutoff), as: .deleted, cache: cache, into: &report)
            return
        }
        let candidates = report.manifests.deleted + report.packs.deleted + report.dictionaries.deleted
        // `deleted` counted candidates while listing; from here on it counts actual deletions.
        let eligible = (report.manifests, report.packs, report.dictionaries)
        report.manifests.deleted = 0; report.manifests.deletedBytes = 0
        report.packs.deleted = 0; report.packs.deletedBytes = 0
        report.dictionaries.deleted = 0; report.dictionaries.deletedBytes = 0
        guard candidates > 0 || !superseded.isEmpty, let lock else { return }

        // Readers that take no lease (serve, within serve.ref_ttl) may still read what compaction
        // replaced: let them settle first, before the sweep holds publishes back.
        if !superseded.isEmpty, let switched = compaction.switchedAt { try await waitForReaders(since: switched, lock: lock) }

        // 6. Sweep. Announce it, wait for publishes in progress, re-mark what they committed, delete.
        try await lock.renew(phase: .sweeping)
        try await step(.sweepAnnounced)
        let deadline = ContinuousClock.now + options.leaseWait
        while true {
            let live = try await liveLeases()
            if live.isEmpty { break }
            if ContinuousClock.now >= deadline {
                report.sweepDeferred = true
                report.sweepNote = "\(live.count) publish(es) still in progress after \(options.leaseWait); deletion deferred to the next run"
                break
            }
            try await Task.sleep(for: options.leasePoll)
            try await lock.renew()
        }
        try await step(.leasesDrained)
        if report.sweepDeferred {
            report.manifests.pending = eligible.0.deleted; report.manifests.pendingBytes = eligible.0.deletedBytes
            report.packs.pending = eligible.1.deleted; report.packs.pendingBytes = eligible.1.deletedBytes
            report.dictionaries.pending = eligible.2.deleted; report.dictionaries.pendingBytes = eligible.2.deletedBytes
            let plan = try superseded.plan(live: Set(roots.all), journaled: journaled, cutoff: cutoff)
            SupersededSweep.count(plan, as: .pending, cache: cache, into: &report)
            try await lock.renew(phase: .marking)
            return
        }
        // The refs now: every publish that could have read a replaced manifest has committed (or will
        // wait for this sweep), so what they name is all that stays live.
        let now = try await repository.readRoots()
        let live = now.all
        for d in live where try !marks.isMarked(manifest: d) {
            try await mark(d, marks: marks, cache: cache, context: "a ref switched during gc")
        }
        try marks.checkpoint()
        let seenJournals = Set(roots.journals.map(\.key))
        let journaledNow = journaled.union(try await journaledPacks(now.journals.filter { !seenJournals.contains($0.key) }))
        try await step(.remarked)

        var batchNumber = 0
        try await deleteCandidates(marks: marks, lock: lock, cache: cache, report: &report, batchNumber: &batchNumber)
        // Live: what the refs name now, and what they named after compaction (the shared index's source).
        let plan = try superseded.plan(live: Set(live).union(roots.all), journaled: journaledNow, cutoff: cutoff)
        try await SupersededSweep.delete(plan, store: store, lock: lock, batchSize: options.deleteBatch, cache: cache, report: &report) {
            batchNumber += 1
            try await step(.deleted(batchNumber))
        }
        try await lock.renew(phase: .marking)
    }

    /// The chunks of the candidate packs (cached trailer totals, or one ranged read each, cached for
    /// the report after their deletion).
    private func candidatePackChunks(marks: MarkDatabase, cache: GCCache) async throws -> Int {
        var total = 0
        var after = ""
        while true {
            let page = try marks.candidates(kind: .pack, after: after, limit: 1000)
            guard let last = page.last else { break }
            after = last.key
            for c in page {
                if let info = try? await PackTrailer.info(store, cache: cache, pack: c.digest, size: c.size) { total += info.chunks }
            }
        }
        return total
    }

    /// Waits until `readerSettle` has passed since compaction switched refs, keeping the lock renewed.
    private func waitForReaders(since switched: ContinuousClock.Instant, lock: GCLock) async throws {
        let until = switched + options.readerSettle
        while ContinuousClock.now < until {
            try await Task.sleep(until: min(until, .now + options.lockTTL / 4), clock: .continuous)
            try await lock.renew()
        }
    }

    /// Deletes the candidates that are still unmarked: manifests first, so no unreachable manifest is
    /// ever left naming a deleted pack, then packs, then dictionaries.
    private func deleteCandidates(marks: MarkDatabase, lock: GCLock, cache: GCCache, report: inout GCReport,
                                  batchNumber: inout Int) async throws {
        for kind in [MarkDatabase.Kind.manifest, .pack, .dictionary] {
            var after = ""
            while true {
                try Task.checkCancellation()
                let page = try marks.candidates(kind: kind, after: after, limit: options.deleteBatch)
                guard let last = page.last else { break }
                after = last.key
                var batch: [MarkDatabase.Candidate] = []
                for c in page {
                    let marked: Bool
                    switch kind {
                    case .manifest: marked = try marks.isMarked(manifest: c.digest)
                    case .pack: marked = try marks.isMarked(pack: c.digest)
                    case .dictionary: marked = try marks.isMarked(dictionary: c.digest)
                    }
                    if !marked { batch.append(c) }
                }
                guard !batch.isEmpty else { continue }
                try await lock.renew()
                try await lock.checkValid()
                try await store.delete(batch.map { try ObjectKey($0.key) })
                for c in batch {
                    switch kind {
                    case .manifest:
                        report.manifests.deleted += 1; report.manifests.deletedBytes += c.size
                        cache.forgetSummary(c.digest)
                    case .pack:
                        report.packs.deleted += 1; report.packs.deletedBytes += c.size
                        if let info = cache.packInfo(c.digest) { report.chunksReclaimed += info.chunks }
                        cache.forgetPack(c.digest)
                    case .dictionary:
                        report.dictionaries.deleted += 1; report.dictionaries.deletedBytes += c.size
                    }
                }
                batchNumber += 1
                try await step(.deleted(batchNumber))
            }
        }
    }

    /// Marks one manifest from its cached summary (or reads it once and caches the summary).
    private func mark(_ d: Digest, marks: MarkDatabase, cache: GCCache, context: String) async throws {
        if try marks.isMarked(manifest: d) { return }
        let summary: ManifestSummary
        if let s = cache.summary(d) {
            summary = s
        } else {
            let m: Manifest
            do { m = try await repository.manifest(d) } catch BlobStoreError.notFound {
                throw GCError.missingLiveObject("manifest \(d.hex), named by \(context), is missing")
            }
            summary = try ManifestSummary(manifest: m)
            cache.store(summary, for: d)
        }
        // A cached summary says nothing about the store: a live manifest must still exist there.
        try marks.mark(manifest: d, summary)
    }

    /// Packs listed by publish journals (`PublishJournal`, listed with the refs) younger than
    /// `journalMaxAge`. Unreadable journals keep nothing.
    func journaledPacks(_ journals: [ObjectInfo]) async throws -> Set<Digest> {
        var out = Set<Digest>()
        let fresh = Date().addingTimeInterval(-options.journalMaxAge.seconds)
        for o in journals where (o.lastModified ?? .distantPast) > fresh {
            guard let bytes = try? await store.get(o.key), let j = PublishJournal.decode(bytes) else { continue }
            out.formUnion(j.packDigests)
        }
        return out
    }

    private func list(_ prefix: String, kind: MarkDatabase.Kind, marks: MarkDatabase, cutoff: Date, keep: Set<Digest> = [],
                      into counts: inout GCReport.Objects) async throws {
        var token: String? = nil
        repeat {
            try Task.checkCancellation()
            let page = try await store.list(prefix: prefix, continuation: token)
            token = page.continuation
            for o in page.objects {
                guard let d = StoreLayout.digest(of: o.key) else { continue }
                let marked: Bool
                switch kind {
                case .manifest: marked = try marks.isMarked(manifest: d)
                case .pack: marked = try marks.isMarked(pack: d)
                case .dictionary: marked = try marks.isMarked(dictionary: d)
                }
                // Size and age of marked packs and manifests, for the trailer reads and for deciding
                // what compaction supersedes (SupersededSweep) without another request.
                if marked { try marks.recordListed(kind, d, size: o.size, modified: o.lastModified) }
                if marked {
                    counts.live += 1; counts.liveBytes += o.size
                } else if let t = o.lastModified, t <= cutoff, !keep.contains(d) {
                    counts.deleted += 1; counts.deletedBytes += o.size
                    try marks.addCandidate(key: o.key.rawValue, kind: kind, digest: d, size: o.size)
                } else {
                    counts.young += 1; counts.youngBytes += o.size
                }
            }
        } while token != nil
    }

    /// Publish leases that are still live (expired ones are removed).
    func liveLeases() async throws -> [PublishLeaseDocument] {
        var live: [PublishLeaseDocument] = []
        var dead: [ObjectKey] = []
        for o in try await store.listAll(prefix: StoreLayout.publishLeasePrefix) {
            guard let bytes = try? await store.get(o.key) else { continue }
            if let doc = try? PublishLeaseDocument.decode(bytes), !doc.isLive() { dead.append(o.key) }
            else if let doc = try? PublishLeaseDocument.decode(bytes) { live.append(doc) }
            // An unreadable lease is treated as live until it is old: never guess in favour of deleting.
            else if let t = o.lastModified, Date().timeIntervalSince(t) > options.lockTTL.seconds * 4 { dead.append(o.key) }
            else { live.append(PublishLeaseDocument(holder: LeaseHolder(id: o.key.rawValue, host: "?", pid: 0, what: "unreadable lease"),
                                                    started: o.lastModified ?? Date(), expires: Date().addingTimeInterval(60))) }
        }
        if !dead.isEmpty { try? await store.delete(dead) }
        return live
    }
}
