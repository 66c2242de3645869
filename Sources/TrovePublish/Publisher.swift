import Foundation
import Logging
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Options for one publish.
public struct PublishOptions: Sendable {
    public var chunker = ChunkerParameters.default
    /// Pack objects are closed once their payload reaches this size.
    public var packSize = 4 << 20
    /// Worker threads for reading, chunking, hashing and compressing (default: all cores).
    public var threads = ProcessInfo.processInfo.activeProcessorCount
    /// Pack uploads in flight at once.
    public var uploads = 8
    /// Train a zstd dictionary on the project's content when it has none yet.
    public var trainDictionary = true
    /// How many of the project's other versions (most recently published first) seed the dedup index.
    public var indexVersions = 32
    /// Recorded as the build time (ISO 8601); default now. Fixed values make manifests reproducible.
    public var buildTime: Date? = nil
    public var toolVersion = "trove"
    /// Cut zip archives (recognised by content: htmlzip, ePub, …) at member boundaries so unchanged
    /// members dedup across rebuilds. Changes only where chunks are cut, never the stored bytes.
    public var zipAware = true
    /// Record a digest of each HTML page's main content (`MainContent`) for `trove diff`; off only to
    /// measure what it costs (bench/main-content.sh).
    public var mainContentDigests = true
    /// Which element of a page is its main content (`publish.main_content_selectors`); recorded in
    /// the manifest.
    public var mainContentSelectors = MainContentSelectors.standard
    /// The list the workers digest with and the manifest records; nil when digests are off.
    var mainContent: MainContentSelectors? { mainContentDigests ? mainContentSelectors : nil }
    /// Renewal and expiry of the publish lease gc waits for.
    public var lease = PublishLeaseTiming.default
    /// Test hook: called on the worker thread after each read from a file (its path), before the bytes
    /// are chunked; a test changes the file there to make it change while it is read.
    public var afterRead: (@Sendable (_ path: String) -> Void)? = nil

    public init() {}
}

/// Publishes a build tree as a new immutable version: walk, chunk, dedup, compress, pack, upload,
/// write the manifest, switch the ref. See docs/architecture.md for the pipeline.
public struct Publisher: Sendable {
    /// Top-level folders of the Read the Docs layout; each is published (or fails) on its own.
    public static let mediaTypes: Set<String> = ["html", "pdf", "epub", "htmlzip", "json"]

    public let repository: Repository
    public let options: PublishOptions

    public init(repository: Repository, options: PublishOptions = PublishOptions()) {
        self.repository = repository
        self.options = options
    }

    public func publish(project: String, version: String, from root: String,
                        progress: PublishProgress = PublishProgress()) async throws -> PublishReport {
        // The walk reads only the build tree, so it starts at once, while the lease is announced and
        // the refs are read; top-level folders are walked concurrently.
        let walk = Task { try await TreeWalker.walkConcurrently(root: root) }
        defer { walk.cancel() }
        _ = try Names.validate(project, what: "project")
        _ = try Names.validate(version, what: "version")
        try options.chunker.validate()
        try TreeWalker.checkRoot(root)
        // Under a publish lease, so gc never deletes blobs while this publish reads, uploads or switches
        // (docs/gc.md); the baseline is read while the lease is checked against gc's lock.
        return try await repository.withPublishLease("publish \(project)/\(version)", timing: options.lease, reading: {
            [repository, indexVersions = options.indexVersions] gcLock in
            try await PublishBaseline.load(repository, project: project, version: version, indexVersions: indexVersions, gcLock: gcLock)
        }) { lease, baseline in
            try await publish(project: project, version: version, from: root, walk: walk, progress: progress, lease: lease, baseline: baseline)
        }
    }

    /// The publish proper, under its lease, as phases with plain values between them: the dedup index
    /// (from the baseline) → the media plan (from the walk) → the dictionary → chunk and upload →
    /// assemble the tree → commit (manifest, switch). However it ends, the uploads and the journal are
    /// settled in one place (`PublishUploads`).
    private func publish(project: String, version: String, from root: String,
                         walk: Task<(entries: [WalkEntry], errors: [PathError]), any Error>,
                         progress: PublishProgress, lease: PublishLease, baseline: PublishBaseline) async throws -> PublishReport {
        let clock = ContinuousClock.now
        var phases = PhaseLog(logger: logger)
        var report = PublishReport(project: project, version: version, store: repository.store.displayName)

        // The walk, started before the lease, goes on while the index is built.
        var index = try dedupIndex(baseline, report: &report)
        let (entries, walkErrors) = try await walk.value
        phases.done("walk+index")
        let plan = MediaPlan(entries: entries, walkErrors: walkErrors)
        report.errors = walkErrors
        let dictionary = dictionaryPlan(baseline, entries: entries, root: root)
        phases.done("dictionary")

        let journal = try PublishJournalWriter(store: repository.store, project: project, version: version, tool: options.toolVersion)
        let uploads = PublishUploads(journal: journal)
        do {
            let chunked = try await chunkAndUpload(plan, root: root, index: &index, dictionary: dictionary, baseline: baseline,
                                                   uploads: uploads, progress: progress)
            report.record(chunked, dictionary: dictionary)
            phases.done("chunk+upload")
            let assembled = try assemble(plan, outcomes: chunked.outcomes, previous: baseline.previous, report: &report)

            // Nothing healthy to publish: switch nothing.
            if !assembled.publishable(plan.layout) {
                try await uploads.finish(into: &report)
                await journal.flush()
                report.requests = RequestCounts()
                report.seconds = (ContinuousClock.now - clock).seconds
                return report
            }
            phases.done("assemble")
            try await commit(assembled, project: project, version: version, index: index, newLocations: chunked.newLocations,
                             dictionary: dictionary.resolved, baseline: baseline, lease: lease, uploads: uploads,
                             phases: &phases, report: &report)
        } catch {
            await uploads.abandon()
            throw error
        }
        await journal.remove(alsoConsumed: baseline.resumed.journals)
        report.seconds = (ContinuousClock.now - clock).seconds
        return report
    }

    private var logger: Logger { Logger(label: "trove.publish") }

    // MARK: Phases

    /// The dedup index, from what the baseline read: the previous build, the project's other recent
    /// builds, the packs of unfinished publishes of this version (reused, not uploaded again) and the
    /// shared cross-project index.
    private func dedupIndex(_ baseline: PublishBaseline, report: inout PublishReport) throws -> ChunkIndex {
        var index = ChunkIndex()
        report.previousManifest = baseline.previous?.digest.hex
        if let previous = baseline.previous { try index.add(manifest: previous) }
        for m in baseline.others { try index.add(manifest: m) }
        index.add(baseline.resumed.chunks)
        report.resumedPacks = baseline.resumed.packs
        if let shared = baseline.shared { index.add(shared) }
        report.indexedChunks = index.count
        return index
    }

    /// The project's dictionary; else one trained on this tree's text by the first worker while the
    /// others start chunking (PublishWorkers), stored before any chunk is compressed with it.
    private func dictionaryPlan(_ baseline: PublishBaseline, entries: [WalkEntry], root: String) -> DictionaryPlan {
        if let projectDictionary = baseline.dictionary { return DictionaryPlan(pending: PendingDictionary(resolved: projectDictionary)) }
        guard options.trainDictionary else { return DictionaryPlan(pending: PendingDictionary(resolved: nil)) }
        let textFiles = entries.filter { $0.kind == .file }
        return DictionaryPlan(pending: PendingDictionary()) { [repository, chunker = options.chunker] in
            guard let trained = try DictionaryTrainer.train(root: root, files: textFiles, chunker: chunker) else { return nil }
            try DedicatedThread.await { try await repository.storeDictionary(trained) }
            return trained
        }
    }

    /// Chunks, dedups, compresses and uploads every file of every group that has not failed. The packs
    /// this run reuses must still exist: the previous build's are probed while files are chunked, any
    /// others once chunking names them. Chunks of a missing or short pack are stored again by a second
    /// pass, which reuses what the first uploaded (republishing repairs a build).
    private func chunkAndUpload(_ plan: MediaPlan, root: String, index: inout ChunkIndex, dictionary: DictionaryPlan,
                                baseline: PublishBaseline, uploads: PublishUploads, progress: PublishProgress) async throws -> Chunked {
        let files = plan.files
        progress.filesTotal.store(files.count, ordering: .relaxed)
        progress.bytesTotal.store(files.reduce(0) { $0 + $1.size }, ordering: .relaxed)
        let presence = PackPresence(store: repository.store)
        presence.confirm(baseline.resumed.chunks.map(\.1.pack)) // their trailers were just read, at their ends
        if let previous = baseline.previous { presence.prefetch(try previous.referencedObjects().packs) }
        var repaired = Repair()
        var pass = 1
        while true {
            // Sized for a first publish (every chunk new; small files and zip members make chunks smaller than
            // the average: build1's 80 MB cut into 13k, not 10k); unused capacity costs address space, not memory.
            let uploader = uploads.start(PackUploader(store: repository.store, targetSize: options.packSize, maxInFlight: options.uploads,
                                                      journal: uploads.journal,
                                                      expectedChunks: files.count + 2 * progress.bytesTotal.load(ordering: .relaxed) / options.chunker.avgSize))
            let workers = PublishWorkers(root: root, files: files, index: index, chunker: FastCDC(options.chunker),
                                         dictionary: dictionary.pending, train: pass == 1 ? dictionary.train : nil, uploader: uploader,
                                         progress: progress, zipAware: options.zipAware,
                                         mainContent: options.mainContent, afterRead: options.afterRead)
            let (outcomes, passStats) = try await workers.run(threads: options.threads)
            let unusable = try await presence.unusable(PackPresence.reused(by: outcomes, in: index))
            if unusable.isEmpty {
                var stats = passStats
                stats.countAsNew(repaired.uploaded, in: outcomes)
                // Where every new chunk goes; the last packs may still be uploading while the manifest is built.
                return Chunked(outcomes: outcomes, stats: stats, repair: repaired, newLocations: uploader.seal())
            }
            guard pass == 1 else {
                throw RepositoryError.corrupt("packs went missing while this publish repaired them: \(unusable.map(\.short).sorted().joined(separator: ", "))")
            }
            logger.warning("packs the dedup index named are missing or damaged; storing their chunks again",
                           metadata: ["packs": "\(unusable.map(\.short).sorted())"])
            let done = try await uploader.finish()
            repaired = Repair(packs: unusable.map(\.hex).sorted(), uploaded: done.locations, uploadedPacks: done.packs, uploadedBytes: done.packBytes)
            index.remove(packs: unusable)
            index.add(done.locations.map { ($0.key, $0.value) })
            presence.confirm(Set(done.locations.values.map(\.pack)))
            progress.restart()
            pass += 1
        }
    }

    /// The new tree: this build's entries for healthy groups, the previous build's for failed ones.
    /// Chunk locations are resolved only as the manifest is written, once the tree is known to differ
    /// from the live build: an unchanged republish needs just the records for its tree digest.
    private func assemble(_ plan: MediaPlan, outcomes: [FileOutcome], previous: Manifest?, report: inout PublishReport) throws -> Assembled {
        let layout = plan.layout
        var failedGroups = plan.failedGroups
        for case .failed(let e) in outcomes {
            report.errors.append(e)
            failedGroups.insert(layout.group(of: e.path))
        }
        var tree: [(FileRecord, ManifestChunks)] = []
        tree.reserveCapacity(plan.entries.count)
        // `files` is `entries` filtered in order, so outcomes are consumed in step.
        let files = plan.files
        var nextFile = 0
        for e in plan.entries {
            var outcome: FileOutcome? = nil
            if e.kind == .file, nextFile < files.count, files[nextFile].path == e.path {
                outcome = outcomes[nextFile]
                nextFile += 1
            }
            if !failedGroups.isEmpty && failedGroups.contains(layout.group(of: e.path)) { continue }
            switch e.kind {
            case .dir:
                tree.append((FileRecord(path: e.path, kind: .dir, size: 0, mode: e.mode, contentType: nil, digest: nil, linkTarget: nil), .none))
                report.directories += 1
            case .symlink:
                tree.append((FileRecord(path: e.path, kind: .symlink, size: e.size, mode: e.mode, contentType: nil, digest: nil, linkTarget: e.linkTarget), .none))
                report.symlinks += 1
            case .file:
                guard case .stored(let digest, let size, let chunks, let main)? = outcome else { continue }
                tree.append((FileRecord(path: e.path, kind: .file, size: size, mode: e.mode, contentType: ContentTypes.forPath(e.path),
                                        digest: digest, linkTarget: nil, mainContentDigest: main), .digests(chunks)))
                report.files += 1
                report.logicalBytes += size
            }
        }
        var carried: [String] = []
        for g in failedGroups.sorted() {
            if layout.isReadTheDocs, let previous, let kept = try? previous.list(under: g), !kept.isEmpty || (try? previous.file(at: g)) != nil {
                if let top = try previous.file(at: g) { tree.append((top, .none)) }
                for r in kept { tree.append((r, r.kind == EntryKind.file ? .located(try previous.chunks(of: r)) : .none)) }
                carried.append(g)
            }
        }
        tree.sort { $0.0.path.utf8.lexicographicallyPrecedes($1.0.path.utf8) }
        report.mediaTypes = layout.summary(tree: tree.lazy.map(\.0), failed: failedGroups, carried: Set(carried), previous: previous)
        return Assembled(tree: tree, failedGroups: failedGroups, carried: carried)
    }

    /// Writes the manifest, stores it and switches the ref. With a previous build the tree digest comes
    /// first (an unchanged tree writes nothing); without one it is computed alongside the manifest.
    /// The manifest is built and stored while the last packs upload (until the ref names it, nothing
    /// reads it); the ref is switched only once both are durable.
    private func commit(_ assembled: Assembled, project: String, version: String, index: ChunkIndex, newLocations: [Digest: ChunkLocation],
                        dictionary: ZstdDictionary?, baseline: PublishBaseline, lease: PublishLease, uploads: PublishUploads,
                        phases: inout PhaseLog, report: inout PublishReport) async throws {
        let previous = baseline.previous
        let tree = assembled.tree
        let treeDigest = previous == nil ? nil : TreeDigest.compute(tree.lazy.map(\.0))
        // Main digests are not in the tree digest: a build digested with another selector list is
        // written again, with the new list (a build that records none keeps its manifest).
        let selectors = options.mainContent?.description
        if let previous, previous.metadata.treeDigest == treeDigest, assembled.carried.isEmpty, report.repairedPacks.isEmpty,
           previous.metadata.mainContentSelectors.map({ $0 == selectors }) ?? true {
            try await uploads.finish(into: &report)
            report.unchanged = true
            report.manifest = previous.digest.hex
            return
        }
        let buildTime = ISO8601DateFormatter().string(from: options.buildTime ?? Date())
        var meta = ManifestMetadata(project: project, version: version, buildTime: buildTime, toolVersion: options.toolVersion,
                                    chunker: options.chunker, dictionary: dictionary?.digest)
        meta.carriedOver = assembled.carried
        meta.mainContentSelectors = selectors
        meta.treeDigest = treeDigest
        let prepared = try await repository.prepareManifest(entries: tree, metadata: meta, treeDigest: treeDigest == nil) {
            [index] d in
            guard let l = index.lookup(d) ?? newLocations[d] else {
                throw RepositoryError.corrupt("chunk \(d.hex) was neither found nor stored")
            }
            return l
        }
        async let storing = repository.storeManifest(prepared)
        do { try await uploads.finish(into: &report) } catch {
            _ = try? await storing
            throw error
        }
        let (digest, bytes) = try await storing
        report.manifest = digest.hex
        report.manifestBytes = bytes
        phases.done("manifest")
        try lease.checkValid()
        // Conditioned on the ref as the baseline read it: one read of the ref per publish.
        let written = try await repository.switchVersion(project, version, to: digest, published: buildTime,
                                                         dictionary: dictionary?.digest,
                                                         basedOn: baseline.previousRef.map { .read($0) } ?? .absent)
        // The build we replaced is not the one we started from: another publish landed meanwhile.
        if let displaced = written.history.first?.manifest, written.current.manifest == digest,
           displaced != previous?.digest {
            report.replacedConcurrentPublish = displaced.hex
        }
        phases.done("switch")
        report.switched = true
    }
}

// MARK: Values between the phases

/// The walked tree in media groups (Read the Docs layout), the groups its walk errors fail, and the
/// files to chunk: those of groups that have not failed, in walk order.
private struct MediaPlan {
    let entries: [WalkEntry]
    let layout: MediaLayout
    let failedGroups: Set<String>
    let files: [WalkEntry]

    init(entries: [WalkEntry], walkErrors: [PathError]) {
        let layout = MediaLayout(entries: entries)
        let failed = Set(walkErrors.map { layout.group(of: $0.path) })
        self.entries = entries
        self.layout = layout
        failedGroups = failed
        files = entries.filter { $0.kind == .file && !failed.contains(layout.group(of: $0.path)) }
    }
}

/// The dictionary chunks are compressed with: resolved, or to be trained by the first worker (`train`).
private struct DictionaryPlan {
    let pending: PendingDictionary
    var train: (@Sendable () throws -> ZstdDictionary?)? = nil

    /// The dictionary once chunking is over (nil: none, or training found too little text).
    var resolved: ZstdDictionary? { pending.ifResolved ?? nil }
}

/// A first pass whose reused packs were missing or damaged: the packs, and what it uploaded (reused by
/// the second pass, so counted as new there).
private struct Repair {
    var packs: [String] = []
    var uploaded: [Digest: ChunkLocation] = [:]
    var uploadedPacks = 0, uploadedBytes = 0
}

/// What chunking and uploading produced.
private struct Chunked {
    var outcomes: [FileOutcome]
    var stats: WorkerStats
    var repair: Repair
    /// Where every new chunk goes (the last packs may still be uploading).
    var newLocations: [Digest: ChunkLocation]
}

/// The tree of the new build and the groups that failed or were carried over from the previous one.
private struct Assembled {
    var tree: [(FileRecord, ManifestChunks)]
    var failedGroups: Set<String>
    var carried: [String]

    /// False when nothing healthy is left to publish: a plain tree with any failure, or a Read the Docs
    /// tree whose every group failed.
    func publishable(_ layout: MediaLayout) -> Bool {
        let healthy = layout.groups.subtracting(failedGroups)
        return !(!layout.isReadTheDocs && !failedGroups.isEmpty || (layout.isReadTheDocs && healthy.isEmpty && !layout.groups.isEmpty))
    }
}

/// The pack uploads of a publish and the journal that records them, settled in one place however the
/// publish ends: `finish` before the manifest is stored, `abandon` when it fails.
private final class PublishUploads {
    let journal: PublishJournalWriter
    private var uploader: PackUploader?

    init(journal: PublishJournalWriter) { self.journal = journal }

    /// Makes `uploader` the current one (a repair pass starts a second) and returns it.
    func start(_ uploader: PackUploader) -> PackUploader {
        self.uploader = uploader
        return uploader
    }

    /// Waits for every pack upload (durable before the manifest is stored) and counts them; throws the
    /// first failure.
    func finish(into report: inout PublishReport) async throws {
        guard let uploader else { return }
        let uploaded = try await uploader.finish()
        report.packs += uploaded.packs
        report.packBytes += uploaded.packBytes
    }

    /// After a failure: lets the uploads in flight end and records what they stored in the journal, so
    /// a re-run reuses it.
    func abandon() async {
        if let uploader { _ = try? await uploader.finish() }
        await journal.flush()
    }
}

/// Debug timings of the phases.
private struct PhaseLog {
    let logger: Logger
    var start = ContinuousClock.now

    mutating func done(_ name: String) {
        let now = ContinuousClock.now
        logger.debug("phase done", metadata: ["phase": "\(name)", "ms": "\(Int((now - start).seconds * 1000))"])
        start = now
    }
}

extension PublishReport {
    /// What chunking found and stored, and the dictionary it used.
    fileprivate mutating func record(_ chunked: Chunked, dictionary: DictionaryPlan) {
        let stats = chunked.stats
        repairedPacks = chunked.repair.packs
        packs = chunked.repair.uploadedPacks
        packBytes = chunked.repair.uploadedBytes
        let resolved = dictionary.resolved
        self.dictionary = resolved?.digest.hex
        dictionaryTrained = dictionary.train != nil && resolved != nil
        chunks = stats.chunks
        newChunks = stats.newChunks
        reusedChunks = stats.reusedChunks
        newBytes = stats.newBytes
        newStoredBytes = stats.newStoredBytes
        reusedBytes = stats.reusedBytes
        containerFiles = stats.containerFiles
        containerBytes = stats.containerBytes
        containerReusedBytes = stats.containerReusedBytes
        let logger = Logger(label: "trove.publish")
        if stats.deferredChunks > 0 {
            logger.debug("compression deferred while the dictionary trained", metadata: ["chunks": "\(stats.deferredChunks)"])
        }
        if stats.untriedChunks > 0 {
            logger.debug("stored raw without trying zstd (their files stopped compressing)", metadata: ["chunks": "\(stats.untriedChunks)"])
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
