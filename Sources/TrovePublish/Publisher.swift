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
    /// measure what it costs (bench/run.sh).
    public var mainContentDigests = true
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

    private func publish(project: String, version: String, from root: String,
                         walk: Task<(entries: [WalkEntry], errors: [PathError]), any Error>,
                         progress: PublishProgress, lease: PublishLease, baseline: PublishBaseline) async throws -> PublishReport {
        let clock = ContinuousClock.now
        let logger = Logger(label: "trove.publish")
        var phaseStart = clock
        func phase(_ name: String) {
            let now = ContinuousClock.now
            logger.debug("phase done", metadata: ["phase": "\(name)", "ms": "\(Int((now - phaseStart).seconds * 1000))"])
            phaseStart = now
        }
        var report = PublishReport(project: project, version: version, store: repository.store.displayName)

        // 1–2. The dedup index, from what the baseline read (the walk, started before the lease, goes on meanwhile).
        let previous = baseline.previous
        report.previousManifest = previous?.digest.hex
        var index = ChunkIndex()
        if let previous { try index.add(manifest: previous) }
        for m in baseline.others { try index.add(manifest: m) }
        // Packs uploaded by unfinished publishes of this version (killed or failed) are reused, not re-uploaded.
        let resumed = baseline.resumed
        index.add(resumed.chunks)
        report.resumedPacks = resumed.packs
        if let shared = baseline.shared { index.add(shared) }
        report.indexedChunks = index.count

        let (entries, walkErrors) = try await walk.value
        phase("walk+index")
        // 3. Media groups (Read the Docs layout) and the errors that fail each.
        let layout = MediaLayout(entries: entries)
        var failedGroups = Set<String>()
        for e in walkErrors { failedGroups.insert(layout.group(of: e.path)) }
        report.errors = walkErrors

        // 4. The dictionary: the project's own; else one trained on this tree's text by the first worker
        // while the others start chunking (PublishWorkers), stored before any chunk is compressed with it.
        let pending: PendingDictionary
        var train: (@Sendable () throws -> ZstdDictionary?)? = nil
        if let projectDictionary = baseline.dictionary {
            pending = PendingDictionary(resolved: projectDictionary)
        } else if options.trainDictionary {
            pending = PendingDictionary()
            let textFiles = entries.filter { $0.kind == .file }
            train = { [repository, chunker = options.chunker] in
                guard let trained = try DictionaryTrainer.train(root: root, files: textFiles, chunker: chunker) else { return nil }
                try DedicatedThread.await { try await repository.storeDictionary(trained) }
                return trained
            }
        } else {
            pending = PendingDictionary(resolved: nil)
        }

        phase("dictionary")
        // 5. Chunk, dedup, compress and upload every file of every group that has not failed yet.
        let files = entries.filter { $0.kind == .file && !failedGroups.contains(layout.group(of: $0.path)) }
        progress.filesTotal.store(files.count, ordering: .relaxed)
        progress.bytesTotal.store(files.reduce(0) { $0 + $1.size }, ordering: .relaxed)
        let journal = try PublishJournalWriter(store: repository.store, project: project, version: version, tool: options.toolVersion)
        // Sized for a first publish (every chunk new; small files and zip members make chunks smaller than
        // the average: build1's 80 MB cut into 13k, not 10k); unused capacity costs address space, not memory.
        let uploader = PackUploader(store: repository.store, targetSize: options.packSize, maxInFlight: options.uploads, journal: journal,
                                    expectedChunks: files.count + 2 * progress.bytesTotal.load(ordering: .relaxed) / options.chunker.avgSize)
        let workers = PublishWorkers(root: root, files: files, index: index, chunker: FastCDC(options.chunker),
                                     dictionary: pending, train: train, uploader: uploader, progress: progress, zipAware: options.zipAware,
                                     mainContent: options.mainContentDigests, afterRead: options.afterRead)
        let outcomes: [FileOutcome], stats: WorkerStats
        do {
            (outcomes, stats) = try await workers.run(threads: options.threads)
        } catch {
            _ = try? await uploader.finish()
            await journal.flush()
            throw error
        }
        // Where every new chunk goes; the last packs may still be uploading while the manifest is built.
        let newLocations = uploader.seal()
        // Waits for every pack upload (durable before the manifest is stored); throws the first failure.
        func uploadsDone() async throws {
            do {
                let uploaded = try await uploader.finish()
                report.packs = uploaded.packs
                report.packBytes = uploaded.packBytes
            } catch {
                await journal.flush()
                throw error
            }
        }
        let dictionary = pending.ifResolved ?? nil
        report.dictionary = dictionary?.digest.hex
        report.dictionaryTrained = train != nil && dictionary != nil
        report.chunks = stats.chunks
        report.newChunks = stats.newChunks
        report.reusedChunks = stats.reusedChunks
        report.newBytes = stats.newBytes
        report.newStoredBytes = stats.newStoredBytes
        report.reusedBytes = stats.reusedBytes
        report.containerFiles = stats.containerFiles
        report.containerBytes = stats.containerBytes
        report.containerReusedBytes = stats.containerReusedBytes
        if stats.deferredChunks > 0 {
            logger.debug("compression deferred while the dictionary trained", metadata: ["chunks": "\(stats.deferredChunks)"])
        }
        if stats.untriedChunks > 0 {
            logger.debug("stored raw without trying zstd (their files stopped compressing)", metadata: ["chunks": "\(stats.untriedChunks)"])
        }
        for case .failed(let e) in outcomes {
            report.errors.append(e)
            failedGroups.insert(layout.group(of: e.path))
        }

        phase("chunk+upload")
        // 6. Assemble the new tree: this build's entries for healthy groups, the previous build's for failed ones.
        // Chunk locations are resolved only as the manifest is written, once the tree is known to differ
        // from the live build: an unchanged republish needs just the records for its tree digest.
        var tree: [(FileRecord, ManifestChunks)] = []
        tree.reserveCapacity(entries.count)
        // `files` is `entries` filtered in order, so outcomes are consumed in step.
        var nextFile = 0
        for e in entries {
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

        // 7. Nothing healthy to publish: switch nothing.
        let healthy = layout.groups.subtracting(failedGroups)
        if !layout.isReadTheDocs && !failedGroups.isEmpty || (layout.isReadTheDocs && healthy.isEmpty && !layout.groups.isEmpty) {
            try await uploadsDone()
            await journal.flush()
            report.requests = RequestCounts()
            report.seconds = (ContinuousClock.now - clock).seconds
            return report
        }

        phase("assemble")
        // 8. Write the manifest, store it, switch the ref. With a previous build the tree digest comes
        // first (an unchanged tree writes nothing); without one it is computed alongside the manifest.
        let treeDigest = previous == nil ? nil : TreeDigest.compute(tree.lazy.map(\.0))
        if let previous, previous.metadata.treeDigest == treeDigest, carried.isEmpty {
            try await uploadsDone()
            report.unchanged = true
            await journal.remove(alsoConsumed: resumed.journals)
            report.manifest = previous.digest.hex
            report.seconds = (ContinuousClock.now - clock).seconds
            return report
        }
        let buildTime = ISO8601DateFormatter().string(from: options.buildTime ?? Date())
        var meta = ManifestMetadata(project: project, version: version, buildTime: buildTime, toolVersion: options.toolVersion,
                                    chunker: options.chunker, dictionary: dictionary?.digest)
        meta.carriedOver = carried
        meta.treeDigest = treeDigest
        // Built while the last packs upload (new chunks located as it is written); stored only once
        // every pack is durable.
        let prepared: PreparedManifest
        do {
            prepared = try await repository.prepareManifest(entries: tree, metadata: meta, treeDigest: treeDigest == nil) {
                [index] d in
                guard let l = index.lookup(d) ?? newLocations[d] else {
                    throw RepositoryError.corrupt("chunk \(d.hex) was neither found nor stored")
                }
                return l
            }
        } catch {
            _ = try? await uploader.finish()
            await journal.flush()
            throw error
        }
        // The manifest is stored while the last packs upload (until the ref names it, nothing reads it);
        // the ref is switched only once both are durable.
        let stored: (Digest, Int)
        do {
            async let storing = repository.storeManifest(prepared)
            do { try await uploadsDone() } catch {
                _ = try? await storing
                throw error
            }
            stored = try await storing
        } catch {
            await journal.flush()
            throw error
        }
        do {
            let (digest, bytes) = stored
            report.manifest = digest.hex
            report.manifestBytes = bytes
            phase("manifest")
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
        } catch {
            await journal.flush()
            throw error
        }
        phase("switch")
        report.switched = true
        await journal.remove(alsoConsumed: resumed.journals)
        report.seconds = (ContinuousClock.now - clock).seconds
        return report
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
