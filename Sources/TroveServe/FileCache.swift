#if canImport(Glibc)
import Glibc
#endif
import CoreMetrics
import Foundation
import NIOCore
import Synchronization
import TroveContent
import TroveManifest
import TroveStorage

/// Decoded large files on local disk (`serve.file_cache_dir`), sent with `sendfile` by the raw fast
/// path. An optimisation only: a cache file is used only while the `Stamp` taken when it was filled
/// and verified still holds; otherwise it is dropped (and filled again on the next slow-path read).
final class FileCache: Sendable {
    /// A cache file as it was when filled and verified: size, inode, mtime and ctime in ns. Every write
    /// or truncation through the file system changes ctime, so a file whose `fstat` still matches holds
    /// the verified bytes. Limits: a write in the same clock tick as the fill (the kernel's coarse
    /// timestamp granularity, a few ms) or one that bypasses the file system (a raw device write, bit
    /// rot) is not seen.
    struct Stamp: Equatable, Sendable {
        var size: Int
        var inode: UInt64
        var mtime: Int64
        var ctime: Int64

        init(_ s: stat) {
            size = Int(s.st_size)
            inode = UInt64(s.st_ino)
            mtime = Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec)
            ctime = Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec)
        }
    }

    /// An open, verified cache file. Its descriptor is closed when the slot goes (evicted or dropped);
    /// answers in flight hold duplicates of it.
    final class Slot: Sendable {
        let fd: CInt
        let stamp: Stamp
        init(fd: CInt, stamp: Stamp) {
            self.fd = fd
            self.stamp = stamp
        }
        deinit { close(fd) }
    }

    struct State: ~Copyable {
        var slots: [Digest: Slot] = [:]
        var lastUse: [Digest: UInt64] = [:]
        var tick: UInt64 = 0
        var bytes = 0
        var fills: [Digest: Fill] = [:]
    }

    /// A read-only descriptor, closed when the last holder lets go (a fill's temp file, which its
    /// followers read while it is written and after it is renamed into place).
    final class ReadHandle: Sendable {
        let fd: CInt
        init(fd: CInt) { self.fd = fd }
        deinit { close(fd) }
    }

    /// A fill under way. The first whole-file readers of a file follow it (`wait(beyond:)`) instead of
    /// fetching the file's chunks a second time: they read the temp file as it grows. Bytes are
    /// written only after their chunk was decoded and verified.
    final class Fill: Sendable {
        struct Progress: ~Copyable {
            var written = 0
            var handle: ReadHandle?
            var finished = false
            var error: (any Error)?
            var waiters: [CheckedContinuation<Void, Never>] = []
        }
        let size: Int
        private let progress = Mutex(Progress())
        let task = Mutex<Task<Void, Never>?>(nil)

        init(size: Int) { self.size = size }

        func opened(_ handle: ReadHandle) { progress.withLock { $0.handle = handle } }

        func wrote(_ n: Int) { update { $0.written += n } }

        func finish(_ error: (any Error)?) {
            update {
                $0.finished = true
                $0.error = error
            }
        }

        /// Changes the progress, then wakes every follower waiting for it.
        private func update(_ change: (inout Progress) -> Void) {
            let waiters = progress.withLock { p -> [CheckedContinuation<Void, Never>] in
                change(&p)
                defer { p.waiters = [] }
                return p.waiters
            }
            for c in waiters { c.resume() }
        }

        /// Waits until more than `pos` bytes are written; returns how many are, and the temp file
        /// to read them from. Throws the fill's error if it failed first.
        func wait(beyond pos: Int) async throws -> (written: Int, handle: ReadHandle) {
            while true {
                if let ready = try ready(beyond: pos) { return ready }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let now = progress.withLock { p -> Bool in
                        if (p.written > pos && p.handle != nil) || p.finished { return true }
                        p.waiters.append(c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
        }

        private func ready(beyond pos: Int) throws -> (written: Int, handle: ReadHandle)? {
            try progress.withLock { p throws -> (written: Int, handle: ReadHandle)? in
                if p.written > pos, let h = p.handle { return (p.written, h) }
                if let e = p.error { throw e }
                if p.finished { throw FileCacheError("the fill ended at \(p.written) of \(size) bytes") }
                return nil
            }
        }
    }

    let directory: String
    /// Bytes of cache files kept at most (least recently used evicted first).
    let limit: Int
    /// Files larger than this are cached (smaller ones stay whole in the chunk cache).
    let threshold: Int
    private let state = Mutex(State())
    let hits: CoreMetrics.Counter
    let fills: CoreMetrics.Counter
    let evictions: CoreMetrics.Counter
    /// Cache files found changed (stamp mismatch) or failing verification, and dropped.
    let rejected: CoreMetrics.Counter

    /// Creates the directory and empties it: partial temp files of a fill cut short, and files of an
    /// earlier run (their stamps are not known, so they are not trusted).
    init(directory: String, limit: Int, threshold: Int, metrics: ServeMetrics) throws {
        self.directory = directory
        self.limit = limit
        self.threshold = threshold
        let f = metrics.factory
        hits = CoreMetrics.Counter(label: "trove_serve_file_cache_hits_total", dimensions: [], factory: f)
        fills = CoreMetrics.Counter(label: "trove_serve_file_cache_fills_total", dimensions: [], factory: f)
        evictions = CoreMetrics.Counter(label: "trove_serve_file_cache_evictions_total", dimensions: [], factory: f)
        rejected = CoreMetrics.Counter(label: "trove_serve_file_cache_rejected_total", dimensions: [], factory: f)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: directory) where FileCache.isCacheName(name) {
            unlink(directory + "/" + name)
        }
    }

    /// Names this cache writes: `<64 hex>` and `<64 hex>.tmp-<n>` (nothing else in the directory is touched).
    static func isCacheName(_ name: String) -> Bool {
        let hex = name.prefix(64)
        return hex.count == 64 && Digest(hex: hex) != nil && (name.count == 64 || name.dropFirst(64).hasPrefix(".tmp-"))
    }

    func path(_ digest: Digest) -> String { directory + "/" + digest.hex }

    /// Whether `entry` is served from this cache.
    func covers(_ entry: FileEntry) -> Bool { entry.size > threshold && entry.size <= limit && entry.digest != nil }

    /// A new handle on the verified cache file of `digest` (the caller closes it), or nil when there is
    /// none or it changed since it was verified. Cheap enough for an event loop: one `fstat`, one `dup`.
    func open(_ digest: Digest) -> NIOFileHandle? {
        guard let slot = slot(digest) else { return nil }
        let fd = dup(slot.fd)
        guard fd >= 0 else { return nil }
        return NIOFileHandle(_deprecatedTakingOwnershipOfDescriptor: fd)
    }

    /// The verified cache file of `digest` if its stamp still holds (one `fstat`); a changed file is
    /// dropped. Holding the slot keeps its descriptor open, even past an eviction.
    func slot(_ digest: Digest) -> Slot? {
        let slot: Slot? = state.withLock { s in
            guard let slot = s.slots[digest] else { return nil }
            s.tick += 1
            s.lastUse[digest] = s.tick
            return slot
        }
        guard let slot else { return nil }
        var st = stat()
        guard fstat(slot.fd, &st) == 0, Stamp(st) == slot.stamp else {
            rejected.increment()
            // The file stays until the refill (which the slow path starts at once) renames a new one
            // over it, or a failed fill removes it: unlinking here could race with that rename.
            state.withLock { s in
                guard s.slots[digest] === slot else { return }
                s.slots[digest] = nil
                s.lastUse[digest] = nil
                s.bytes -= slot.stamp.size
            }
            return nil
        }
        hits.increment()
        return slot
    }

    /// Fills the cache file of `entry` unless it is cached or being filled: one fill however many ask
    /// at once. Returns that fill (to follow, or to await through its `task`), nil when it is cached.
    @discardableResult
    func fill(_ entry: FileEntry, server: TroveServer) -> Fill? {
        guard covers(entry), let digest = entry.digest else { return nil }
        return state.withLock { s -> Fill? in
            if s.slots[digest] != nil { return nil }
            if let f = s.fills[digest] { return f }
            let fill = Fill(size: entry.size)
            fill.task.withLock { $0 = Task { [self] in
                do {
                    try await run(entry, digest: digest, server: server, fill: fill)
                    fill.finish(nil)
                } catch {
                    server.logger.warning("file cache fill failed", metadata: ["file": "\(entry.path)", "error": "\(error)"])
                    fill.finish(error)
                }
                _ = state.withLock { $0.fills.removeValue(forKey: digest) }
            } }
            s.fills[digest] = fill
            return fill
        }
    }

    /// Waits for the fills under way (tests).
    func settle() async {
        for f in state.withLock({ Array($0.fills.values) }) { await f.task.withLock({ $0 })?.value }
    }

    /// Bytes of cache files held.
    var bytes: Int { state.withLock { $0.bytes } }

    /// Decodes the file into a temp file, verifies what is on disk against the chunk digests and the
    /// file digest, renames it into place, and records its stamp.
    private func run(_ entry: FileEntry, digest: Digest, server: TroveServer, fill: Fill) async throws {
        let final = path(digest)
        let temp = final + ".tmp-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let (wfd, rfd) = try await BlockingIO.run {
            let w = Glibc.open(temp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
            return (w, w >= 0 ? Glibc.open(temp, O_RDONLY | O_CLOEXEC) : -1)
        }
        guard wfd >= 0, rfd >= 0 else {
            let why = String(cString: strerror(errno))
            if wfd >= 0 { close(wfd); unlink(temp) }
            throw FileCacheError("cannot create \(temp): \(why)")
        }
        fill.opened(ReadHandle(fd: rfd))
        let slot: Slot
        var writing = true
        do {
            try await FillWriter(server: server, fill: fill, fd: wfd).write(entry.chunks)
            writing = false
            _ = try await BlockingIO.run { close(wfd) }
            let chunks = entry.chunks
            slot = try await BlockingIO.run {
                try FileCache.verify(temp, chunks: chunks, digest: digest, size: entry.size)
                guard rename(temp, final) == 0 else { throw FileCacheError("cannot rename \(temp): \(String(cString: strerror(errno)))") }
                let rfd = Glibc.open(final, O_RDONLY | O_CLOEXEC)
                guard rfd >= 0 else { throw FileCacheError("cannot open \(final): \(String(cString: strerror(errno)))") }
                var st = stat()
                guard fstat(rfd, &st) == 0, Int(st.st_size) == entry.size else {
                    close(rfd)
                    throw FileCacheError("\(final) changed while it was filled")
                }
                return Slot(fd: rfd, stamp: Stamp(st))
            }
        } catch {
            // (This is the only fill of `digest`, and it has no slot: a dropped file can go too.)
            let stillOpen = writing
            _ = try? await BlockingIO.run {
                if stillOpen { close(wfd) }
                unlink(temp)
                unlink(final)
            }
            throw error
        }
        fills.increment()
        let evicted: [Digest] = state.withLock { s in
            s.slots[digest] = slot
            s.tick += 1
            s.lastUse[digest] = s.tick
            s.bytes += entry.size
            var out: [Digest] = []
            while s.bytes > limit, let victim = s.lastUse.filter({ $0.key != digest }).min(by: { $0.value < $1.value })?.key {
                if let v = s.slots.removeValue(forKey: victim) { s.bytes -= v.stamp.size }
                s.lastUse[victim] = nil
                out.append(victim)
            }
            return out
        }
        if !evicted.isEmpty {
            evictions.increment(by: evicted.count)
            let paths = evicted.map(path)
            _ = try? await BlockingIO.run { for p in paths { unlink(p) } }
        }
    }

    /// `count` bytes of `fd` at `offset`, read on the blocking-I/O pool (`pread`: no shared file position).
    static func read(_ fd: CInt, at offset: Int, count: Int) async throws -> ByteBuffer {
        try await BlockingIO.run { () throws -> ByteBuffer in
            var b = ByteBuffer()
            _ = try b.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw -> Int in
                guard (try? FileIO.readFull(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]), at: offset)) == count else {
                    throw FileCacheError("file cache read failed at \(offset)")
                }
                return count
            }
            return b
        }
    }

    /// Reads the written file back: every chunk's bytes must hash to its digest, and the chunk digests
    /// to the file digest (`Digest.file`), so what is on disk is what was published.
    private static func verify(_ path: String, chunks: [ChunkRef], digest: Digest, size: Int) throws {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FileCacheError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, Int(st.st_size) == size else { throw FileCacheError("\(path) has the wrong size") }
        var buffer = [UInt8](repeating: 0, count: chunks.map(\.location.rawSize).max() ?? 0)
        var offset = 0
        for c in chunks {
            let n = c.location.rawSize
            let ok = buffer.withUnsafeMutableBytes { raw -> Bool in
                (try? FileIO.readFull(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<n]), at: offset)) == n
                    && Digest.sha256(UnsafeRawBufferPointer(rebasing: raw[0..<n])) == c.digest
            }
            guard ok else { throw FileCacheError("\(path): chunk \(c.digest.hex) does not verify") }
            offset += n
        }
        guard offset == size, Digest.file(chunks: chunks.map(\.digest)) == digest else {
            throw FileCacheError("\(path) does not match the file digest")
        }
    }
}

struct FileCacheError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
