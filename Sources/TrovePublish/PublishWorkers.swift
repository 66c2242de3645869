import Foundation
import Synchronization
import TroveContent
import TroveManifest
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of chunking one file.
enum FileOutcome: Sendable {
    case stored(digest: Digest, size: Int, chunks: [(Digest, Int)])
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
}

/// Per-run counters, merged from the workers when they finish.
struct WorkerStats {
    var chunks = 0, newChunks = 0, reusedChunks = 0, newBytes = 0, newStoredBytes = 0, reusedBytes = 0
    var containerFiles = 0, containerBytes = 0, containerReusedBytes = 0
    mutating func merge(_ o: WorkerStats) {
        chunks += o.chunks; newChunks += o.newChunks; reusedChunks += o.reusedChunks
        newBytes += o.newBytes; newStoredBytes += o.newStoredBytes; reusedBytes += o.reusedBytes
        containerFiles += o.containerFiles; containerBytes += o.containerBytes; containerReusedBytes += o.containerReusedBytes
    }
}

/// Reads, chunks, hashes, deduplicates and compresses files on dedicated threads (one per core),
/// so blocking reads never touch the Swift cooperative pool. Each thread owns its buffers and
/// zstd context; the only shared state is the index (read-only), the set of chunks this run already
/// claimed, and the pack uploader.
final class PublishWorkers: @unchecked Sendable {
    let root: String
    let files: [WalkEntry]
    let index: ChunkIndex
    let chunker: FastCDC
    let dictionary: ZstdDictionary?
    let uploader: PackUploader
    let progress: PublishProgress
    let blockSize: Int
    /// Cut zip archives (by content) at member boundaries; see `ZipBoundaries`.
    let zipAware: Bool

    /// The order files are handed out in: largest first (ties in path order), so no big file starts
    /// last while the other threads run out of work. Outcomes stay in `files` order.
    private let order: [Int]
    private let next = Atomic<Int>(0)
    private let claimed = Mutex<Set<Digest>>([])
    private let stats = Mutex(WorkerStats())
    // Each slot is written by exactly one worker and read only after all workers have joined.
    private let outcomes: UnsafeMutableBufferPointer<FileOutcome?>

    init(root: String, files: [WalkEntry], index: ChunkIndex, chunker: FastCDC, dictionary: ZstdDictionary?,
         uploader: PackUploader, progress: PublishProgress, blockSize: Int = 4 << 20, zipAware: Bool = true) {
        self.root = root
        self.files = files
        self.index = index
        self.chunker = chunker
        self.dictionary = dictionary
        self.uploader = uploader
        self.progress = progress
        self.blockSize = max(blockSize, chunker.parameters.maxSize * 2)
        self.zipAware = zipAware
        order = files.indices.sorted { files[$0].size != files[$1].size ? files[$0].size > files[$1].size : $0 < $1 }
        outcomes = .allocate(capacity: files.count)
        outcomes.initialize(repeating: nil)
    }

    deinit {
        outcomes.deinitialize()
        outcomes.deallocate()
    }

    /// Runs `threads` workers to completion; returns the outcome of every file, in input order.
    func run(threads: Int) async -> ([FileOutcome], WorkerStats) {
        let group = DispatchGroup()
        for _ in 0..<max(1, min(threads, files.count)) {
            group.enter()
            let t = Thread { [self] in
                work()
                group.leave()
            }
            t.stackSize = 1 << 20
            t.start()
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        return (outcomes.map { $0! }, stats.withLock { $0 })
    }

    private func work() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: blockSize, alignment: 64)
        let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdCompressor.bound(chunker.parameters.maxSize), alignment: 64)
        defer { buffer.deallocate(); compressed.deallocate() }
        let compressor = ZstdCompressor()
        var local = WorkerStats()
        while true {
            let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if n >= files.count || uploader.failed { break }
            let i = order[n]
            let f = files[i]
            let outcome = process(f, buffer: buffer, compressed: compressed, compressor: compressor, stats: &local)
            outcomes[i] = outcome
            progress.filesDone.add(1, ordering: .relaxed)
        }
        // Files skipped after an upload failure still need an outcome.
        while true {
            let n = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if n >= files.count { break }
            let i = order[n]
            outcomes[i] = .failed(PathError(path: files[i].path, reason: "not published: an upload failed"))
        }
        let merged = local
        stats.withLock { $0.merge(merged) }
    }

    private func process(_ f: WalkEntry, buffer: UnsafeMutableRawBufferPointer, compressed: UnsafeMutableRawBufferPointer,
                         compressor: borrowing ZstdCompressor, stats: inout WorkerStats) -> FileOutcome {
        let fd = open(root + "/" + f.path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return .failed(PathError(path: f.path, reason: "cannot open: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        let compress = !PublishWorkers.precompressed(f.path)
        var chunks: [(Digest, Int)] = []
        var total = 0
        var start = 0, end = 0, eof = false
        // Forced cuts (file offsets) of a zip archive, read from its central directory before the first cut.
        var forced: [Int]? = nil, nextForced = 0
        let base = buffer.baseAddress!
        while true {
            // Refill: slide the unconsumed tail to the front, then read until the buffer is full or EOF.
            if !eof && end - start < chunker.parameters.maxSize {
                if start > 0 {
                    memmove(base, base + start, end - start)
                    end -= start
                    start = 0
                }
                while end < buffer.count {
                    let n = read(fd, base + end, buffer.count - end)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return .failed(PathError(path: f.path, reason: "read error: \(String(cString: strerror(errno)))"))
                    }
                    if n == 0 { eof = true; break }
                    end += n
                    progress.bytesDone.add(n, ordering: .relaxed)
                }
            }
            if start == end { break }
            if zipAware && total == 0 && forced == nil && ZipBoundaries.looksLikeZip(UnsafeRawBufferPointer(start: base, count: end)) {
                var st = stat()
                forced = fstat(fd, &st) == 0 ? ZipBoundaries.cuts(fd: fd, fileSize: Int(st.st_size)) ?? [] : []
                if forced?.isEmpty == false { stats.containerFiles += 1 }
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
            let reused = store(d, chunk, compress: compress, compressed: compressed, compressor: compressor, stats: &stats)
            if let f = forced, !f.isEmpty {
                while nextForced < f.count && f[nextForced] <= total { nextForced += 1 }
                stats.containerBytes += cut
                if reused { stats.containerReusedBytes += cut }
            }
        }
        return .stored(digest: Digest.file(chunks: chunks.lazy.map(\.0)), size: total, chunks: chunks)
    }

    /// Stores a chunk unless the index or this run already has it; returns whether it was reused.
    @inline(__always) @discardableResult
    private func store(_ d: Digest, _ chunk: UnsafeRawBufferPointer, compress: Bool, compressed: UnsafeMutableRawBufferPointer,
                       compressor: borrowing ZstdCompressor, stats: inout WorkerStats) -> Bool {
        stats.chunks += 1
        if index.lookup(d) != nil || !claimed.withLock({ $0.insert(d).inserted }) {
            stats.reusedChunks += 1
            stats.reusedBytes += chunk.count
            return true
        }
        stats.newChunks += 1
        stats.newBytes += chunk.count
        progress.newBytes.add(chunk.count, ordering: .relaxed)
        if compress, let n = try? compressor.compress(chunk, into: compressed, dictionary: dictionary),
           ChunkCodec.pays(raw: chunk.count, compressed: n) {
            stats.newStoredBytes += n
            uploader.add(digest: d, stored: UnsafeRawBufferPointer(rebasing: compressed[..<n]), rawSize: chunk.count,
                         codec: dictionary == nil ? .zstd : .zstdDictionary, dictionary: dictionary?.digest)
        } else {
            stats.newStoredBytes += chunk.count
            uploader.add(digest: d, stored: chunk, rawSize: chunk.count, codec: .raw, dictionary: nil)
        }
        return false
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
