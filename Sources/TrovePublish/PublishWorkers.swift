import Foundation
import Synchronization
import TroveContent
import TroveManifest
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of chunking one file.
enum FileOutcome: Sendable {
    /// `mainContent`: the digest of an HTML page's main content (`MainContent`), nil for other files.
    case stored(digest: Digest, size: Int, chunks: [(Digest, Int)], mainContent: Digest?)
    case failed(PathError)
}

/// Live counters a terminal progress line (or a test) can poll while publish runs.
public final class PublishProgress: Sendable {
    public let filesTotal = Atomic<Int>(0)
    public let bytesTotal = Atomic<Int>(0)
    public let filesDone = Atomic<Int>(0)
    public let bytesDone = Atomic<Int>(0)
    public let newBytes = Atomic<Int>(0)
    public init() {}

    /// Back to no file done (a second pass over the tree).
    func restart() {
        filesDone.store(0, ordering: .relaxed)
        bytesDone.store(0, ordering: .relaxed)
        newBytes.store(0, ordering: .relaxed)
    }
}

/// Per-run counters, merged from the workers when they finish.
struct WorkerStats {
    var chunks = 0, newChunks = 0, reusedChunks = 0, newBytes = 0, newStoredBytes = 0, reusedBytes = 0
    var containerFiles = 0, containerBytes = 0, containerReusedBytes = 0
    /// New chunks whose compression waited for the dictionary being trained.
    var deferredChunks = 0
    /// New chunks stored raw without trying zstd (their file stopped compressing; `CompressionProbe`).
    var untriedChunks = 0
    /// A second pass found the chunks of `earlier` (stored by the first pass) in the index: the first
    /// use of each is new to the store, not reused.
    mutating func countAsNew(_ earlier: [Digest: ChunkLocation], in outcomes: [FileOutcome]) {
        guard !earlier.isEmpty else { return }
        var seen = Set<Digest>()
        for case .stored(_, _, let chunks, _) in outcomes {
            for (d, size) in chunks {
                guard let l = earlier[d], seen.insert(d).inserted else { continue }
                reusedChunks -= 1; reusedBytes -= size
                newChunks += 1; newBytes += size; newStoredBytes += l.storedSize
            }
        }
    }

    mutating func merge(_ o: WorkerStats) {
        deferredChunks += o.deferredChunks
        untriedChunks += o.untriedChunks
        chunks += o.chunks; newChunks += o.newChunks; reusedChunks += o.reusedChunks
        newBytes += o.newBytes; newStoredBytes += o.newStoredBytes; reusedBytes += o.reusedBytes
        containerFiles += o.containerFiles; containerBytes += o.containerBytes; containerReusedBytes += o.containerReusedBytes
    }
}

/// The dictionary new chunks are compressed with. Known from the start (the project's own, or none), or
/// trained by the first worker while the others already chunk and hash: then it is resolved once the
/// trained dictionary is stored, so no pack can name a dictionary the store does not have.
final class PendingDictionary: Sendable {
    private let state: Mutex<(resolved: Bool, dictionary: ZstdDictionary?)>
    private let ready = DispatchGroup()

    /// A dictionary known from the start (nil: compress without one).
    init(resolved dictionary: ZstdDictionary?) {
        state = Mutex((true, dictionary))
    }

    /// A dictionary still to come; `resolve` must be called exactly once.
    init() {
        state = Mutex((false, nil))
        ready.enter()
    }

    func resolve(_ dictionary: ZstdDictionary?) {
        state.withLock { $0 = (true, dictionary) }
        ready.leave()
    }

    // A publish that fails before its workers run never resolves it; libdispatch refuses to free a
    // group that is still entered.
    deinit {
        if ifResolved == nil { ready.leave() }
    }

    /// The dictionary when resolved, without blocking; `.none` while it is still being trained.
    var ifResolved: ZstdDictionary?? {
        state.withLock { $0.resolved ? .some($0.dictionary) : .none }
    }

    /// Blocks the calling thread (a worker, never the cooperative pool) until resolved.
    func wait() -> ZstdDictionary? {
        ready.wait()
        return state.withLock { $0.dictionary }
    }
}

/// One worker's new chunks held back for compression while the dictionary is being trained.
struct DeferredChunks {
    var bytes: [UInt8] = []
    /// `file` tells files apart, so each gets its own `CompressionProbe` when they are compressed.
    var chunks: [(digest: Digest, offset: Int, count: Int, file: Int)] = []
}

/// Whether to try compressing a file's next new chunk. After 8 chunks in a row that did not compress
/// (a PDF's deflated streams, media), only every 16th is tried, and one that compresses turns trying
/// back on: a failed zstd pass costs as much CPU as a successful one and saves nothing.
struct CompressionProbe {
    static let giveUpAfter = 8
    static let probeEvery = 16
    private var failures = 0
    private var skipped = 0

    mutating func shouldTry() -> Bool {
        guard failures >= CompressionProbe.giveUpAfter else { return true }
        skipped += 1
        if skipped < CompressionProbe.probeEvery { return false }
        skipped = 0
        return true
    }

    mutating func record(paid: Bool) { failures = paid ? 0 : failures + 1 }
}

/// Reads, chunks, hashes, deduplicates and compresses files on dedicated threads (one per core),
/// so blocking reads never touch the Swift cooperative pool. Each thread owns its buffers and
/// zstd context; the only shared state is the index (read-only), the set of chunks this run already
/// claimed, and the pack uploader.
///
/// When the project has no dictionary yet, the first worker trains one (`train`) while the others go
/// on: files that need none (already-compressed formats) first, then the rest with the compression of
/// their new chunks deferred, up to `deferLimit` bytes across all workers (beyond it a worker waits
/// for the dictionary). Deferred chunks are compressed with the dictionary as soon as it is ready.
final class PublishWorkers: @unchecked Sendable {
    let root: String
    let files: [WalkEntry]
    let index: ChunkIndex
    let chunker: FastCDC
    let dictionary: PendingDictionary
    /// Trains (and stores) the dictionary, on the first worker before it takes files; nil when `dictionary` is known.
    let train: (@Sendable () throws -> ZstdDictionary?)?
    /// Bytes of new chunks that may wait for the dictionary, across all workers.
    let deferLimit: Int
    private let deferred = Atomic<Int>(0)
    private let trainingError = Mutex<(any Error)?>(nil)
    let uploader: PackUploader
    let progress: PublishProgress
    let blockSize: Int
    /// Cut zip archives (by content) at member boundaries; see `ZipBoundaries`.
    let zipAware: Bool
    /// Digest the main content of HTML pages with these selectors (`PublishOptions.mainContent`); nil: don't.
    let mainContent: MainContentSelectors?
    /// `PublishOptions.afterRead`.
    let afterRead: (@Sendable (String) -> Void)?
    /// Test hook: what a worker does about the dictionary being trained (tests hold training back
    /// until another worker has deferred a chunk or waits, instead of sleeping).
    enum Event: Sendable { case deferredChunk, waitingForDictionary }
    let events: (@Sendable (Event) -> Void)?

    /// The order files are handed out in: largest first (ties in path order), so no big file starts
    /// last while the other threads run out of work. Outcomes stay in `files` order.
    private let order: [Int]
    private let next = Atomic<Int>(0)
    private let claimed = Mutex<Set<Digest>>([])
    private let stats = Mutex(WorkerStats())
    // Each slot is written by exactly one worker and read only after all workers have joined.
    private let outcomes: UnsafeMutableBufferPointer<FileOutcome?>

    init(root: String, files: [WalkEntry], index: ChunkIndex, chunker: FastCDC, dictionary: PendingDictionary,
         train: (@Sendable () throws -> ZstdDictionary?)? = nil, deferLimit: Int = 32 << 20,
         uploader: PackUploader, progress: PublishProgress, blockSize: Int = 1 << 20, zipAware: Bool = true, mainContent: MainContentSelectors? = .standard,
         afterRead: (@Sendable (String) -> Void)? = nil, events: (@Sendable (Event) -> Void)? = nil) {
        self.root = root
        self.files = files
        self.index = index
        self.chunker = chunker
        self.dictionary = dictionary
        self.train = train
        self.deferLimit = deferLimit
        self.uploader = uploader
        self.progress = progress
        self.blockSize = max(blockSize, chunker.parameters.maxSize * 2)
        self.zipAware = zipAware
        self.mainContent = mainContent
        self.afterRead = afterRead
        self.events = events
        // While a dictionary is trained, files that need none go first.
        let training = dictionary.ifResolved == nil
        let needsDictionary = files.map { training && !PublishWorkers.precompressed($0.path) }
        order = files.indices.sorted {
            if needsDictionary[$0] != needsDictionary[$1] { return !needsDictionary[$0] }
            return files[$0].size != files[$1].size ? files[$0].size > files[$1].size : $0 < $1
        }
        outcomes = .allocate(capacity: files.count)
        outcomes.initialize(repeating: nil)
    }

    deinit {
        outcomes.deinitialize()
        outcomes.deallocate()
    }

    /// Runs `threads` workers to completion; returns the outcome of every file, in input order.
    /// Throws what training the dictionary threw.
    func run(threads: Int) async throws -> ([FileOutcome], WorkerStats) {
        let group = DispatchGroup()
        for t in 0..<max(1, min(threads, files.count)) {
            group.enter()
            let t = Thread { [self] in
                if t == 0, let train { trainDictionary(train) }
                work()
                group.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        if let e = trainingError.withLock({ $0 }) { throw e }
        return (outcomes.map { $0! }, stats.withLock { $0 })
    }

    private func trainDictionary(_ train: () throws -> ZstdDictionary?) {
        do {
            dictionary.resolve(try train())
        } catch {
            trainingError.withLock { $0 = error }
            dictionary.resolve(nil)
        }
    }

    /// Compression state of one worker thread.
    struct ThreadState {
        var stats = WorkerStats()
        /// Set once the dictionary is resolved (`dictionary` is then final).
        var ready = false
        var dictionary: ZstdDictionary? = nil
        var deferred = DeferredChunks()
        /// Counts the files this thread has processed (tells deferred chunks of different files apart).
        var fileNumber = 0
    }

    private func work() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
        let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdCompressor.bound(chunker.parameters.maxSize), alignment: 64)
        defer { buffer.deallocate(); compressed.deallocate() }
        let compressor = ZstdCompressor()
        var local = ThreadState()
        if let d = dictionary.ifResolved { local.ready = true; local.dictionary = d }
        while true {
            let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if n >= files.count || uploader.failed { break }
            if !local.ready, let d = dictionary.ifResolved {
                drain(&local, dictionary: d, compressed: compressed, compressor: compressor)
            }
            let i = order[n]
            let f = files[i]
            local.fileNumber += 1
            let outcome = process(f, buffer: buffer, compressed: compressed, compressor: compressor, state: &local)
            outcomes[i] = outcome
            progress.filesDone.add(1, ordering: .relaxed)
        }
        if !local.ready {
            events?(.waitingForDictionary)
            drain(&local, dictionary: dictionary.wait(), compressed: compressed, compressor: compressor)
        }
        // Files skipped after an upload failure still need an outcome.
        while true {
            let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if n >= files.count { break }
            let i = order[n]
            outcomes[i] = .failed(PathError(path: files[i].path, reason: "not published: an upload failed"))
        }
        let merged = local.stats
        stats.withLock { $0.merge(merged) }
    }

    /// Takes the resolved dictionary and compresses this worker's deferred chunks with it.
    private func drain(_ state: inout ThreadState, dictionary d: ZstdDictionary?, compressed: UnsafeMutableRawBufferPointer,
                       compressor: borrowing ZstdCompressor) {
        state.ready = true
        state.dictionary = d
        guard !state.deferred.chunks.isEmpty else { return }
        let held = state.deferred
        state.deferred = DeferredChunks()
        held.bytes.withUnsafeBytes { raw in
            var probe = CompressionProbe()
            var file = -1
            for c in held.chunks {
                if c.file != file { probe = CompressionProbe(); file = c.file }
                let chunk = UnsafeRawBufferPointer(rebasing: raw[c.offset..<(c.offset + c.count)])
                guard probe.shouldTry() else {
                    state.stats.untriedChunks += 1
                    addRaw(c.digest, chunk, stats: &state.stats)
                    continue
                }
                probe.record(paid: compressAndAdd(c.digest, chunk, dictionary: d, compressed: compressed, compressor: compressor,
                                                  stats: &state.stats))
            }
        }
        deferred.subtract(held.bytes.count, ordering: .relaxed)
    }

    private func process(_ f: WalkEntry, buffer: UnsafeMutableRawBufferPointer, compressed: UnsafeMutableRawBufferPointer,
                         compressor: borrowing ZstdCompressor, state: inout ThreadState) -> FileOutcome {
        // O_NONBLOCK: a file replaced by a FIFO since the walk must not block the worker in open.
        let fd = open(root + "/" + f.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return .failed(PathError(path: f.path, reason: "cannot open: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        // What the file is when reading starts; compared with what it is once read (`changed`).
        var before = stat()
        guard fstat(fd, &before) == 0 else { return .failed(PathError(path: f.path, reason: "cannot stat: \(String(cString: strerror(errno)))")) }
        guard (before.st_mode & S_IFMT) == S_IFREG else { return .failed(PathError(path: f.path, reason: "is no longer a regular file")) }
        let compress = !PublishWorkers.precompressed(f.path)
        var probe = CompressionProbe()
        var chunks: [(Digest, Int)] = []
        var total = 0
        var start = 0, end = 0, eof = false
        // Forced cuts (file offsets) of a zip archive, read from its central directory before the first cut.
        var forced: [Int]? = nil, nextForced = 0
        // An HTML page's main content is digested from the buffer the chunker reads, when the first
        // read holds the whole page (up to `blockSize`); larger pages get none (their diff flag is null).
        var main: Digest? = nil
        let selectors = MainContent.isHTML(f.path) ? mainContent : nil
        let base = buffer.baseAddress!
        while true {
            // Refill: slide the unconsumed tail to the front, then read until the buffer is full or EOF.
            if !eof && end - start < chunker.parameters.maxSize {
                if start > 0 {
                    memmove(base, base + start, end - start)
                    end -= start
                    start = 0
                }
                let want = buffer.count - end
                let n: Int
                do { n = try FileIO.readFull(fd, into: UnsafeMutableRawBufferPointer(start: base + end, count: want)) } catch {
                    return .failed(PathError(path: f.path, reason: "read error: \(error)"))
                }
                end += n
                progress.bytesDone.add(n, ordering: .relaxed)
                if n < want { eof = true }
                if let selectors, eof && total == 0 && start == 0 {
                    main = MainContent.digest(of: UnsafeRawBufferPointer(start: base, count: end), selectors: selectors)
                }
                afterRead?(f.path)
            }
            if start == end { break }
            if zipAware && total == 0 && forced == nil && ZipBoundaries.looksLikeZip(UnsafeRawBufferPointer(start: base, count: end)) {
                var st = stat()
                forced = fstat(fd, &st) == 0 ? ZipBoundaries.cuts(fd: fd, fileSize: Int(st.st_size)) ?? [] : []
                if forced?.isEmpty == false { state.stats.containerFiles += 1 }
            }
            var window = UnsafeRawBufferPointer(start: base + start, count: end - start)
            var isFinal = eof
            // A forced cut inside the window ends the chunk there at the latest (FastCDC may cut sooner).
            if let f = forced, nextForced < f.count, f[nextForced] - total <= window.count {
                window = UnsafeRawBufferPointer(start: base + start, count: f[nextForced] - total)
                isFinal = true
            }
            guard let cut = chunker.nextCut(window, isFinal: isFinal) else { continue }
            let chunk = UnsafeRawBufferPointer(start: base + start, count: cut)
            start += cut
            total += cut
            let d = Digest.sha256(chunk)
            chunks.append((d, cut))
            let reused = store(d, chunk, compress: compress, probe: &probe, compressed: compressed, compressor: compressor, state: &state)
            if let f = forced, !f.isEmpty {
                while nextForced < f.count && f[nextForced] <= total { nextForced += 1 }
                state.stats.containerBytes += cut
                if reused { state.stats.containerReusedBytes += cut }
            }
        }
        if let why = PublishWorkers.changed(fd: fd, before: before, read: total) {
            return .failed(PathError(path: f.path, reason: "changed while it was read (\(why)); not published, publish again once the build is done"))
        }
        return .stored(digest: Digest.file(chunks: chunks.lazy.map(\.0)), size: total, chunks: chunks, mainContent: main)
    }

    /// Why the open file `fd` is not what it was when reading started (`before`) or is not what was
    /// read (`read` bytes to EOF), or nil when size, modification and status-change times all agree.
    /// Catches a file truncated and rewritten while it was read (the read ends early, or the size or
    /// the times moved); a same-size rewrite inside one tick of the kernel's file-time clock stays
    /// invisible to `stat`.
    static func changed(fd: Int32, before: stat, read: Int) -> String? {
        var after = stat()
        guard fstat(fd, &after) == 0 else { return "cannot stat it again: \(String(cString: strerror(errno)))" }
        if Int(before.st_size) != read || Int(after.st_size) != read {
            return "\(before.st_size) bytes when opened, \(read) read, \(after.st_size) now"
        }
        if before.st_mtim.tv_sec != after.st_mtim.tv_sec || before.st_mtim.tv_nsec != after.st_mtim.tv_nsec {
            return "modified"
        }
        if before.st_ctim.tv_sec != after.st_ctim.tv_sec || before.st_ctim.tv_nsec != after.st_ctim.tv_nsec {
            return "status changed"
        }
        return nil
    }

    /// Stores a chunk unless the index or this run already has it; returns whether it was reused.
    @inline(__always) @discardableResult
    private func store(_ d: Digest, _ chunk: UnsafeRawBufferPointer, compress: Bool, probe: inout CompressionProbe,
                       compressed: UnsafeMutableRawBufferPointer, compressor: borrowing ZstdCompressor, state: inout ThreadState) -> Bool {
        state.stats.chunks += 1
        if index.lookup(d) != nil || !claimed.withLock({ $0.insert(d).inserted }) {
            state.stats.reusedChunks += 1
            state.stats.reusedBytes += chunk.count
            return true
        }
        state.stats.newChunks += 1
        state.stats.newBytes += chunk.count
        progress.newBytes.add(chunk.count, ordering: .relaxed)
        guard compress, state.ready ? probe.shouldTry() : true else {
            if compress { state.stats.untriedChunks += 1 }
            addRaw(d, chunk, stats: &state.stats)
            return false
        }
        if !state.ready {
            // The dictionary is still being trained: hold the chunk back while the budget allows.
            if deferred.add(chunk.count, ordering: .relaxed).newValue <= deferLimit {
                state.deferred.chunks.append((d, state.deferred.bytes.count, chunk.count, state.fileNumber))
                state.deferred.bytes.append(contentsOf: chunk)
                state.stats.deferredChunks += 1
                events?(.deferredChunk)
                return false
            }
            deferred.subtract(chunk.count, ordering: .relaxed)
            events?(.waitingForDictionary)
            drain(&state, dictionary: dictionary.wait(), compressed: compressed, compressor: compressor)
        }
        let paid = compressAndAdd(d, chunk, dictionary: state.dictionary, compressed: compressed, compressor: compressor, stats: &state.stats)
        probe.record(paid: paid)
        return false
    }

    /// Compresses a new chunk (stored raw when that does not pay) and hands it to the uploader;
    /// returns whether compression paid.
    @inline(__always) @discardableResult
    private func compressAndAdd(_ d: Digest, _ chunk: UnsafeRawBufferPointer, dictionary: ZstdDictionary?,
                                compressed: UnsafeMutableRawBufferPointer, compressor: borrowing ZstdCompressor, stats: inout WorkerStats) -> Bool {
        if let n = try? compressor.compress(chunk, into: compressed, dictionary: dictionary),
           ChunkCodec.pays(raw: chunk.count, compressed: n) {
            stats.newStoredBytes += n
            uploader.add(digest: d, stored: UnsafeRawBufferPointer(rebasing: compressed[..<n]), rawSize: chunk.count,
                         codec: dictionary == nil ? .zstd : .zstdDictionary, dictionary: dictionary?.digest)
            return true
        }
        addRaw(d, chunk, stats: &stats)
        return false
    }

    @inline(__always)
    private func addRaw(_ d: Digest, _ chunk: UnsafeRawBufferPointer, stats: inout WorkerStats) {
        stats.newStoredBytes += chunk.count
        uploader.add(digest: d, stored: chunk, rawSize: chunk.count, codec: .raw, dictionary: nil)
    }

    /// Formats whose content is already compressed: zstd would only burn CPU on them.
    static func precompressed(_ path: String) -> Bool {
        guard let dot = path.lastIndex(of: ".") else { return false }
        switch path[path.index(after: dot)...].lowercased() {
        case "png", "jpg", "jpeg", "gif", "webp", "avif", "woff", "woff2", "zip", "epub", "gz", "tgz", "bz2", "xz", "zst", "mp4", "webm", "mp3", "ogg":
            return true
        default:
            return false
        }
    }
}
