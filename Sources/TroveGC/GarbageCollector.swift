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
        let cacheDirectory = repository.cacheDirectory.appendingPathComponent("gc")
        var failure: (any Error)?
        do {
            let cache = try await BlockingIO.run {
                try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
                return try GCCache(directory: cacheDirectory)
            }
            let lock = options.dryRun ? nil : try await GCLock.acquire(store, what: "trove gc", ttl: options.lockTTL)
            do { try await collect(&report, lock: lock, cache: cache, work: work) } catch { failure = error }
            await lock?.release()
        } catch {
            failure = error
        }
        // However the run ended: the lock is released (above) and the scratch directory removed.
        if options.workDirectory == nil { try? await BlockingIO.run { try FileManager.default.removeItem(at: work) } }
        if let failure { throw failure }
        report.total()
        report.seconds = (ContinuousClock.now - clock).seconds
        try await step(.finished)
        return report
    }

    /// One run as phases with plain values between them: retain and mark → survey the store (live,
    /// young and candidate objects; compaction targets) → compact and refresh the shared index → sweep.
    /// Candidates are counted apart from the report: the report's `deleted` counts only deletions (a
    /// dry run's: would-be deletions), its `pending` what a deferred sweep left.
    private func collect(_ report: inout GCReport, lock: GCLock?, cache: GCCache, work: URL) async throws {
        try await step(.locked)
        let cutoff = Date().addingTimeInterval(-options.grace.seconds)
        let marked = try await retainAndMark(cache: cache, work: work, report: &report)
        try await step(.marked)
        let survey = try await self.survey(marked, cutoff: cutoff, cache: cache, report: &report)
        try await lock?.renew()
        try await step(.listed)
        let compacted = try await compactAndIndex(marked, survey: survey, lock: lock, cache: cache, work: work, report: &report)

        // The packs' chunk totals, read (and cached) now, while every candidate pack still exists: a dry
        // run reports them as reclaimable; a sweep counts `chunksReclaimed` from the cache as it deletes.
        let candidateChunks = try await cachePackInfo(ofCandidatesIn: marked.marks, cache: cache)
        if options.dryRun {
            report.record(survey.candidates, as: .deleted)
            report.chunksReclaimed += candidateChunks
            // Would-be live after compaction: the refs with the replaced manifests switched away (aliases
            // that pin a manifest are not switched).
            let pinned = Set(compacted.roots.aliasManifests.map(\.1))
            let live = Set(compacted.roots.versions.flatMap(\.manifests)).subtracting(compacted.superseded.manifests).union(pinned)
            let (plan, chunks) = try await BlockingIO.run {
                let plan = try compacted.superseded.plan(live: live, journaled: survey.journaled, cutoff: cutoff)
                return (plan, SupersededSweep.cachedChunks(plan, cache: cache))
            }
            SupersededSweep.count(plan, as: .deleted, packChunks: chunks, into: &report)
            return
        }
        guard survey.candidates.count > 0 || !compacted.superseded.isEmpty, let lock else { return }
        try await sweep(marked, survey: survey, compacted: compacted, cutoff: cutoff, lock: lock, cache: cache, report: &report)
    }

    // MARK: Phases

    /// Trims histories to the retention policy (by CAS, so rollback can never reach a build gc is about
    /// to collect), then marks every build the refs keep into the on-disk set.
    private func retainAndMark(cache: GCCache, work: URL, report: inout GCReport) async throws -> Marked {
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

        let marks = try await BlockingIO.run { try MarkDatabase(directory: work) }
        for d in roots.all {
            try Task.checkCancellation()
            try await mark(d, marks: marks, cache: cache, context: "a live ref")
        }
        report.liveBuilds = try await BlockingIO.run {
            try marks.checkpoint()
            return marks.markedManifestCount
        }
        return Marked(roots: roots, marks: marks)
    }

    /// Lists what exists: live objects are kept; unmarked ones are candidates once older than the grace.
    /// Packs named by the journal of an unfinished publish are kept while the journal is fresh, so a
    /// re-run after a kill can still reuse them (docs/s3.md, "Resuming a killed publish"). Every live
    /// pack's trailer totals give the dead space in live packs and the compaction targets.
    private func survey(_ marked: Marked, cutoff: Date, cache: GCCache, report: inout GCReport) async throws -> Survey {
        let marks = marked.marks
        var out = Survey(journaled: try await journaledPacks(marked.roots.journals))
        out.candidates.manifests = try await list(StoreLayout.manifestsPrefix, kind: .manifest, marks: marks, cutoff: cutoff, into: &report.manifests)
        out.candidates.packs = try await list(StoreLayout.packsPrefix, kind: .pack, marks: marks, cutoff: cutoff, keep: out.journaled, into: &report.packs)
        out.candidates.dictionaries = try await list(StoreLayout.dictsPrefix, kind: .dictionary, marks: marks, cutoff: cutoff, into: &report.dictionaries)
        let (liveness, dictionaries) = try await BlockingIO.run {
            try marks.checkpoint()
            return (try marks.packLiveness(), try marks.allDictionaries())
        }
        for p in liveness {
            try Task.checkCancellation()
            guard let size = p.size else {
                let users = try await BlockingIO.run { try marks.manifestIDs(usingPack: p.id).compactMap { try marks.manifestDigest(id: $0)?.short } }
                throw GCError.missingLiveObject("live pack \(p.digest.hex) (used by manifest \(users.prefix(3).joined(separator: ", "))) is missing")
            }
            let info = try await PackTrailer.info(store, cache: cache, pack: p.digest, size: size)
            report.liveChunks += p.liveChunks
            report.liveChunkBytes += p.liveBytes
            report.deadChunksInLivePacks += max(0, info.chunks - p.liveChunks)
            report.deadBytesInLivePacks += max(0, info.payload - p.liveBytes)
            out.targets.append(.init(digest: p.digest, id: p.id, info: info, liveChunks: p.liveChunks, liveBytes: p.liveBytes))
        }
        for d in dictionaries where try await store.head(StoreLayout.dictionary(d)) == nil {
            throw GCError.missingLiveObject("live dictionary \(d.hex) is missing")
        }
        return out
    }

    /// Compacts mostly-dead packs (what they replaced is superseded: decided after the sweep's re-mark),
    /// then refreshes the shared index from the (possibly just rewritten) current builds: it names only
    /// marked objects.
    private func compactAndIndex(_ marked: Marked, survey: Survey, lock: GCLock?, cache: GCCache, work: URL,
                                 report: inout GCReport) async throws -> Compacted {
        let marks = marked.marks
        var roots = marked.roots
        let compactor = Compactor(repository: repository, marks: marks, cache: cache, options: options)
        let compaction = try await compactor.run(Compactor.select(survey.targets, options: options), roots: roots, report: &report)
        if !compaction.replaced.isEmpty {
            // The refs as switched; the shared index is built from them, so whatever they name is marked.
            roots = try await repository.readRoots()
            for d in roots.all { try await mark(d, marks: marks, cache: cache, context: "a ref read after compaction") }
            try await BlockingIO.run { try marks.checkpoint() }
        }
        let compacted = Compacted(roots: roots, compaction: compaction, superseded: SupersededSweep(marks: marks, compaction: compaction))
        try await step(.compacted)

        if options.rebuildSharedIndex {
            let refreshed = try await SharedIndexBuilder.refresh(repository, roots: roots, workDirectory: work,
                                                                 toolVersion: options.toolVersion, dryRun: options.dryRun)
            report.sharedIndexChunks = refreshed.chunks
            report.sharedIndexRebuilt = refreshed.rebuilt
            try await lock?.recordSharedIndex(refreshed.digest)
        }
        try await step(.indexed)
        return compacted
    }

    /// Announces the sweep, waits for publishes in progress, re-marks what they committed, and deletes
    /// the candidates still unmarked, then the superseded objects nothing live uses. If publishes are
    /// still running after `leaseWait`, deletes nothing and reports the candidates as pending.
    private func sweep(_ marked: Marked, survey: Survey, compacted: Compacted, cutoff: Date, lock: GCLock, cache: GCCache,
                       report: inout GCReport) async throws {
        let marks = marked.marks
        let superseded = compacted.superseded
        // Readers that take no lease (serve, within serve.ref_ttl) may still read what compaction
        // replaced: let them settle first, before the sweep holds publishes back.
        if !superseded.isEmpty, let switched = compacted.compaction.switchedAt { try await waitForReaders(since: switched, lock: lock) }

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
            report.record(survey.candidates, as: .pending)
            let roots = compacted.roots
            let plan = try await BlockingIO.run { try superseded.plan(live: Set(roots.all), journaled: survey.journaled, cutoff: cutoff) }
            SupersededSweep.count(plan, as: .pending, into: &report)
            try await lock.renew(phase: .marking)
            return
        }
        // The refs now: every publish that could have read a replaced manifest has committed (or will
        // wait for this sweep), so what they name is all that stays live.
        let now = try await repository.readRoots()
        let live = now.all
        for d in live { try await mark(d, marks: marks, cache: cache, context: "a ref switched during gc") }
        try await BlockingIO.run { try marks.checkpoint() }
        let seenJournals = Set(compacted.roots.journals.map(\.key))
        let journaledNow = survey.journaled.union(try await journaledPacks(now.journals.filter { !seenJournals.contains($0.key) }))
        try await step(.remarked)

        var batchNumber = 0
        try await deleteCandidates(marks: marks, lock: lock, cache: cache, report: &report, batchNumber: &batchNumber)
        // Live: what the refs name now, and what they named after compaction (the shared index's source).
        let keep = Set(live).union(compacted.roots.all)
        let plan = try await BlockingIO.run { try superseded.plan(live: keep, journaled: journaledNow, cutoff: cutoff) }
        try await SupersededSweep.delete(plan, store: store, lock: lock, batchSize: options.deleteBatch, cache: cache, report: &report) {
            batchNumber += 1
            try await step(.deleted(batchNumber))
        }
        try await lock.renew(phase: .marking)
    }

    /// Reads (and caches) the trailer totals of every candidate pack; returns their chunks in all.
    private func cachePackInfo(ofCandidatesIn marks: MarkDatabase, cache: GCCache) async throws -> Int {
        var total = 0
        var after = ""
        while true {
            let from = after
            let page = try await BlockingIO.run { try marks.candidates(kind: .pack, after: from, limit: 1000) }
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
                let (from, limit) = (after, options.deleteBatch)
                let (page, batch) = try await BlockingIO.run {
                    let page = try marks.candidates(kind: kind, after: from, limit: limit)
                    return (page, try page.filter { try !marks.isMarked(kind, $0.digest) })
                }
                guard let last = page.last else { break }
                after = last.key
                guard !batch.isEmpty else { continue }
                try await lock.renew()
                try await lock.checkValid()
                try await store.delete(batch.map { try ObjectKey($0.key) })
                let reclaimed = try await BlockingIO.run {
                    var chunks = 0
                    for c in batch {
                        switch kind {
                        case .manifest: cache.forgetSummary(c.digest)
                        case .pack:
                            if let info = cache.packInfo(c.digest) { chunks += info.chunks }
                            cache.forgetPack(c.digest)
                        case .dictionary: break
                        }
                    }
                    return chunks
                }
                report.chunksReclaimed += reclaimed
                for c in batch {
                    switch kind {
                    case .manifest: report.manifests.deleted += 1; report.manifests.deletedBytes += c.size
                    case .pack: report.packs.deleted += 1; report.packs.deletedBytes += c.size
                    case .dictionary: report.dictionaries.deleted += 1; report.dictionaries.deletedBytes += c.size
                    }
                }
                batchNumber += 1
                try await step(.deleted(batchNumber))
            }
        }
    }

    /// Marks one manifest from its cached summary (or reads it once and caches the summary). The mark
    /// database and the cache are read and written on the blocking-I/O pool.
    private func mark(_ d: Digest, marks: MarkDatabase, cache: GCCache, context: String) async throws {
        let done: Bool = try await BlockingIO.run {
            if try marks.isMarked(manifest: d) { return true }
            guard let summary = cache.summary(d) else { return false }
            try marks.mark(manifest: d, summary)
            return true
        }
        if done { return }
        let m: Manifest
        do { m = try await repository.manifest(d) } catch BlobStoreError.notFound {
            throw GCError.missingLiveObject("manifest \(d.hex), named by \(context), is missing")
        }
        try await BlockingIO.run {
            let summary = try ManifestSummary(manifest: m)
            cache.store(summary, for: d)
            try marks.mark(manifest: d, summary)
        }
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

    /// Lists one kind of object: counts the live and the young ones into `counts`, records the
    /// candidates in the mark database and returns their totals. Each page is checked against the
    /// marks in one trip to the blocking-I/O pool.
    private func list(_ prefix: String, kind: MarkDatabase.Kind, marks: MarkDatabase, cutoff: Date, keep: Set<Digest> = [],
                      into counts: inout GCReport.Objects) async throws -> Tally {
        var candidates = Tally()
        var token: String? = nil
        repeat {
            try Task.checkCancellation()
            let page = try await store.list(prefix: prefix, continuation: token)
            token = page.continuation
            let objects = page.objects
            let (pageCounts, pageCandidates) = try await BlockingIO.run {
                var counts = GCReport.Objects(), candidates = Tally()
                for o in objects {
                    guard let d = StoreLayout.digest(of: o.key) else { continue }
                    if try marks.isMarked(kind, d) {
                        // Size and age of marked packs and manifests, for the trailer reads and for deciding
                        // what compaction supersedes (SupersededSweep) without another request.
                        try marks.recordListed(kind, d, size: o.size, modified: o.lastModified)
                        counts.live += 1; counts.liveBytes += o.size
                    } else if let t = o.lastModified, t <= cutoff, !keep.contains(d) {
                        candidates.add(o.size)
                        try marks.addCandidate(key: o.key.rawValue, kind: kind, digest: d, size: o.size)
                    } else {
                        counts.young += 1; counts.youngBytes += o.size
                    }
                }
                return (counts, candidates)
            }
            counts.live += pageCounts.live; counts.liveBytes += pageCounts.liveBytes
            counts.young += pageCounts.young; counts.youngBytes += pageCounts.youngBytes
            candidates.add(pageCandidates)
        } while token != nil
        return candidates
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

// MARK: Values between the phases

/// The roots as read (histories trimmed by retention) and the mark set of everything they keep.
private struct Marked: Sendable {
    var roots: Roots
    let marks: MarkDatabase
}

/// A count of objects and their bytes.
struct Tally: Sendable, Equatable {
    var count = 0, bytes = 0

    mutating func add(_ size: Int) { count += 1; bytes += size }
    mutating func add(_ other: Tally) { count += other.count; bytes += other.bytes }
}

/// Unmarked objects old enough to delete, by kind, as the listing found them.
struct CandidateTotals: Sendable, Equatable {
    var manifests = Tally(), packs = Tally(), dictionaries = Tally()
    var count: Int { manifests.count + packs.count + dictionaries.count }
}

/// What listing the store found beyond the counts in the report: the candidates, the packs fresh
/// journals protect, and every live pack with its trailer totals (compaction picks from them).
private struct Survey: Sendable {
    var journaled: Set<Digest>
    var candidates = CandidateTotals()
    var targets: [Compactor.Target] = []
}

/// The roots after compaction (the shared index is built from them), what compaction did, and the
/// objects it superseded.
private struct Compacted: Sendable {
    var roots: Roots
    var compaction: Compactor.Outcome
    var superseded: SupersededSweep
}

extension GCReport {
    /// Counts the candidates as deleted (a dry run: would be deleted) or as pending (a deferred sweep).
    mutating func record(_ candidates: CandidateTotals, as outcome: SupersededSweep.Outcome) {
        func put(_ t: Tally, _ o: inout Objects) {
            switch outcome {
            case .deleted: o.deleted += t.count; o.deletedBytes += t.bytes
            case .pending: o.pending += t.count; o.pendingBytes += t.bytes
            }
        }
        put(candidates.manifests, &manifests)
        put(candidates.packs, &packs)
        put(candidates.dictionaries, &dictionaries)
    }
}

extension MarkDatabase {
    /// Whether an object of `kind` is marked.
    func isMarked(_ kind: Kind, _ d: Digest) throws -> Bool {
        switch kind {
        case .manifest: return try isMarked(manifest: d)
        case .pack: return try isMarked(pack: d)
        case .dictionary: return try isMarked(dictionary: d)
        }
    }
}
