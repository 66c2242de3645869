import Foundation
import Hummingbird
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// A resolved path of a manifest, cached per (manifest, URL path): manifests are immutable.
enum Lookup: Sendable {
    case file(FileEntry)
    /// A directory asked for without its trailing slash.
    case addSlash
    case notFound
}

struct LookupKey: Hashable, Sendable {
    var manifest: Digest
    var path: String
    var root: String
    var slash: Bool
    var index: Bool
}

/// Everything needed to answer for one published file.
struct FileEntry: Sendable {
    /// The path inside the published tree (what signed URLs cover).
    var path: String
    var size: Int
    var contentType: String
    /// The strong validator: the file's SHA-256.
    var etag: String
    /// The file's SHA-256 (its whole decoded bytes live in the chunk cache under it, like a chunk's).
    var digest: Digest?
    var chunks: [ChunkRef]
    /// Stored as one zstd frame without dictionary: can be sent as is to clients that accept zstd.
    var passthrough: Bool

    var zstdETag: String { String(etag.dropLast()) + "-zstd\"" }

    /// Where the whole decoded file is found in the chunk cache: a one-chunk file is its chunk; a small
    /// file of several chunks is kept whole under its file digest (which also names exactly these bytes:
    /// it is derived from the chunk digests). nil when too big to keep whole.
    var wholeKey: ChunkKey? {
        guard size <= TroveServer.wholeFileLimit else { return nil }
        if chunks.count == 1 { return ChunkKey(digest: chunks[0].digest, encoded: false) }
        return digest.map { ChunkKey(digest: $0, encoded: false) }
    }
}

/// A slice `lo..<hi` of one decoded chunk.
struct Piece: Sendable {
    var chunk: ChunkRef
    var lo: Int
    var hi: Int
    var count: Int { hi - lo }
}

extension TroveServer {
    static let wholeFileLimit = 256 << 10

    /// Resolves `root/rest` in a manifest (`Manifest.resolve`: symlinks in any component, inside the
    /// version only), maps a directory to its `index.html` (when `index`) or to a redirect when the
    /// slash is missing.
    func lookup(_ m: Manifest, root: String, rest: [String], slash: Bool, index: Bool) throws -> Lookup {
        var logical = root
        for seg in rest { logical = logical.isEmpty ? seg : logical + "/" + seg }
        guard let rec = try m.resolve(logical) else { return .notFound }
        switch rec.kind {
        case .file:
            return slash ? .notFound : .file(try entry(m, rec))
        case .dir:
            guard index else { return .notFound } // download folders are not browsable
            guard slash else { return .addSlash }
            let indexPath = rec.path.isEmpty ? "index.html" : rec.path + "/index.html"
            guard let idx = try m.resolve(indexPath), idx.kind == .file else { return .notFound }
            return .file(try entry(m, idx))
        case .symlink:
            return .notFound // resolve never ends on a link
        }
    }

    /// `lookup` through the cache of resolved paths. A miss runs its SQLite queries on the blocking-I/O
    /// pool, never on an event loop (request handlers run on them: `useEventLoopsAsGlobalExecutor`).
    func cachedLookup(_ m: Manifest, key: LookupKey, rest: [String]) async throws -> Lookup {
        if let l = lookups.get(key) { return l }
        let found = try await BlockingIO.run { [self] in
            try lookup(m, root: key.root, rest: rest, slash: key.slash, index: key.index)
        }
        lookups.put(key, found)
        return found
    }

    func entry(_ m: Manifest, _ rec: FileRecord) throws -> FileEntry {
        let chunks = try m.chunks(of: rec)
        let tag = rec.digest.map { "\"\($0.hex)\"" } ?? "\"\(m.digest.hex.prefix(32))-\(rec.id)\""
        let passthrough = chunks.count == 1 && chunks[0].location.codec == .zstd && chunks[0].location.dictionary == nil
        return FileEntry(path: rec.path, size: rec.size, contentType: rec.contentType ?? ContentTypes.forPath(rec.path),
                         etag: tag, digest: rec.digest, chunks: chunks, passthrough: passthrough)
    }

    // MARK: Sending

    /// The full HTTP answer for a file: conditional requests, ranges, zstd passthrough, HEAD, as
    /// `fileAnswer` decides it; this loads the body it plans.
    func send(_ entry: FileEntry, request: Request, status: HTTPResponse.Status,
              cacheControl: String, note: inout Note) async throws -> Response {
        let f = request.headers
        let answer = TroveServer.fileAnswer(
            entry, FileRequest(isHead: request.method == .head, acceptEncoding: f[.acceptEncoding], ifNoneMatch: f[.ifNoneMatch],
                               ifModifiedSince: f[.ifModifiedSince], range: f[.range], ifRange: f[.ifRange]),
            status: status, cacheControl: cacheControl)
        var h = answer.headers
        let outStatus = answer.status
        let offset: Int, length: Int
        switch answer.body {
        case .none:
            note.cache = "-"
            return Response(status: outStatus, headers: h, body: .init())
        case .message(let text):
            return Response(status: outStatus, headers: h,
                            body: answer.sendsBody ? .init(byteBuffer: ByteBuffer(string: text)) : .init())
        case .zstdFrame:
            note.encoding = "zstd"
            let (buf, hit) = try await encodedChunk(entry.chunks[0])
            note.cache = hit ? "hit" : "miss"
            h[.contentLength] = String(buf.readableBytes)
            return Response(status: outStatus, headers: h, body: answer.sendsBody ? .init(byteBuffer: buf) : .init())
        case .bytes(let o, let l):
            guard answer.sendsBody else { return Response(status: outStatus, headers: h, body: .init()) }
            if let files = fileCache, files.covers(entry) {
                // A large file: from the file cache when it holds it (ranges, and whole files the raw
                // fast path did not take), else from chunks while the cache is filled for the next reads.
                if let digest = entry.digest, let slot = files.slot(digest) {
                    note.cache = "file"
                    return Response(status: outStatus, headers: h, body: TroveServer.fileBody(slot, offset: o, length: l))
                }
                // A whole file follows the fill (one fetch of each chunk, however many read it at once);
                // once its first bytes are written, so that a fill failing at once (a local disk problem,
                // the store down) leaves this answer to the chunk path and its clean error statuses.
                if let fill = files.fill(entry, server: self), o == 0, l == entry.size, (try? await fill.wait(beyond: 0)) != nil {
                    note.cache = "fill"
                    return Response(status: outStatus, headers: h, body: followBody(fill, path: entry.path))
                }
            }
            (offset, length) = (o, l)
        }
        // Small files are kept whole too (keyed by the file's digest, which names exactly these bytes,
        // as a chunk's digest does): a hot page is then one lookup and no copy.
        // (A file's digest is derived from its chunk digests, so a one-chunk file is found under its chunk.)
        let wholeKey = offset == 0 && length == entry.size ? entry.wholeKey : nil
        if let wholeKey, let b = cache.hit(wholeKey), b.readableBytes == entry.size {
            note.cache = "hit"
            return Response(status: outStatus, headers: h, body: .init(byteBuffer: b))
        }
        let pieces = TroveServer.pieces(entry.chunks, offset: offset, length: length)
        // Read (and verify) the first bytes before answering, so most failures still get a clean status.
        let split = prefetchSplit(pieces)
        var first: [ByteBuffer] = []
        first.reserveCapacity(split)
        let (hits, misses) = try await load(pieces[0..<split]) { first.append($0) }
        note.cache = misses == 0 ? (hits == 0 ? "-" : "hit") : (hits == 0 ? "miss" : "partial")
        if split == pieces.count {
            if first.count <= 1 {
                return Response(status: outStatus, headers: h, body: .init(byteBuffer: first.first ?? ByteBuffer()))
            }
            // One write instead of several: a copy of a small page is cheaper than extra syscalls.
            var all = ByteBuffer()
            all.reserveCapacity(length)
            for var b in first { all.writeBuffer(&b) }
            if let wholeKey { cache.put(wholeKey, all) }
            return Response(status: outStatus, headers: h, body: .init(byteBuffer: all))
        }
        let rest = Array(pieces[split...])
        let prefetched = first
        let path = entry.path
        return Response(status: outStatus, headers: h, body: ResponseBody(contentLength: length) { [self] writer in
            try await writer.write(contentsOf: prefetched)
            do {
                // Buffers go out in batches of ~512 KiB: one channel write and flush per batch.
                var batch: [ByteBuffer] = []
                var batched = 0
                try await load(rest[...]) { b in
                    batch.append(b)
                    batched += b.readableBytes
                    if batched >= 512 << 10 {
                        try await writer.write(contentsOf: batch)
                        batch.removeAll(keepingCapacity: true)
                        batched = 0
                    }
                }
                if !batch.isEmpty { try await writer.write(contentsOf: batch) }
            } catch {
                noteMidBodyFailure(error, path: path)
                throw error
            }
            try await writer.finish(nil)
        })
    }

    /// Headers are gone when a body fails: the only honest thing left is to cut the connection short
    /// (the caller rethrows); this counts and logs why.
    func noteMidBodyFailure(_ error: any Error, path: String) {
        switch error {
        case let e as RepositoryError:
            metrics.storeError("corrupt")
            logger.error("aborting response mid-body: stored data failed verification", metadata: ["file": "\(path)", "error": "\(e)"])
        case let e as BlobStoreError:
            metrics.storeError(e.isRetryable ? "unavailable" : "store")
            logger.error("aborting response mid-body: store error", metadata: ["file": "\(path)", "error": "\(e)"])
        case let e as FileCacheError:
            logger.error("aborting response mid-body: file cache fill failed", metadata: ["file": "\(path)", "error": "\(e)"])
        default:
            // The client went away or stopped reading (closed by the write-stall timeout).
            logger.debug("response not completed", metadata: ["file": "\(path)", "error": "\(error)"])
        }
    }

    /// A whole file read from its fill's temp file as the fill writes it (`FileCache.Fill`).
    func followBody(_ fill: FileCache.Fill, path: String) -> ResponseBody {
        ResponseBody(contentLength: fill.size) { [self] writer in
            var pos = 0
            do {
                while pos < fill.size {
                    let (written, handle) = try await fill.wait(beyond: pos)
                    while pos < written {
                        let n = min(512 << 10, written - pos)
                        try await writer.write(try await FileCache.read(handle.fd, at: pos, count: n))
                        pos += n
                    }
                }
            } catch {
                noteMidBodyFailure(error, path: path)
                throw error
            }
            try await writer.finish(nil)
        }
    }

    /// Bytes `offset..<offset+length` of a file-cache file, read in 512 KiB pieces on the blocking-I/O pool.
    static func fileBody(_ slot: FileCache.Slot, offset: Int, length: Int) -> ResponseBody {
        ResponseBody(contentLength: length) { writer in
            var pos = offset
            let end = offset + length
            while pos < end {
                let n = min(512 << 10, end - pos)
                try await writer.write(try await FileCache.read(slot.fd, at: pos, count: n))
                pos += n
            }
            try await writer.finish(nil)
        }
    }

    /// How many of `pieces` make the first `prefetchBytes`: what is read before answering (and what a
    /// file-cache fill writes first), so that most failures still get a clean status.
    func prefetchSplit(_ pieces: [Piece]) -> Int {
        var split = 0, ahead = 0
        while split < pieces.count, ahead < configuration.prefetchBytes { ahead += pieces[split].count; split += 1 }
        return split
    }

    /// The chunk slices covering `offset..<offset+length`.
    static func pieces(_ chunks: [ChunkRef], offset: Int, length: Int) -> [Piece] {
        var out: [Piece] = []
        var pos = 0
        let end = offset + length
        for c in chunks {
            let cs = pos, ce = pos + c.location.rawSize
            pos = ce
            if ce <= offset { continue }
            if cs >= end { break }
            out.append(Piece(chunk: c, lo: max(offset, cs) - cs, hi: min(end, ce) - cs))
        }
        return out
    }

    /// Delivers the pieces in order, from the chunk cache where possible; runs of missing chunks are read
    /// with one ranged GET per adjacent run and verified by `ChunkReader`. Returns (hits, misses).
    @discardableResult
    func load(_ pieces: ArraySlice<Piece>, _ sink: (ByteBuffer) async throws -> Void) async throws -> (Int, Int) {
        var hits = 0, misses = 0
        var i = pieces.startIndex
        while i < pieces.endIndex {
            let p = pieces[i]
            // The cache holds a chunk's verified bytes; a manifest that gives the chunk another size
            // (it can only be wrong) must not turn them into a body of the wrong length.
            if let b = cache.get(ChunkKey(digest: p.chunk.digest, encoded: false)) {
                guard b.readableBytes == p.chunk.location.rawSize else {
                    throw RepositoryError.corrupt("chunk \(p.chunk.digest.hex) is \(b.readableBytes) bytes, its manifest says \(p.chunk.location.rawSize)")
                }
                hits += 1
                try await sink(TroveServer.slice(b, p))
                i += 1
                continue
            }
            var j = i + 1
            while j < pieces.endIndex, !cache.contains(ChunkKey(digest: pieces[j].chunk.digest, encoded: false)) { j += 1 }
            misses += j - i
            var k = i
            try await reader.stream(pieces[i..<j].map(\.chunk)) { bytes in
                let buf = ByteBuffer(bytes: bytes)
                let piece = pieces[k]
                cache.put(ChunkKey(digest: piece.chunk.digest, encoded: false), buf)
                k += 1
                try await sink(TroveServer.slice(buf, piece))
            }
            i = j
        }
        return (hits, misses)
    }

    static func slice(_ b: ByteBuffer, _ p: Piece) -> ByteBuffer {
        if p.lo == 0 && p.hi == b.readableBytes { return b }
        return b.getSlice(at: b.readerIndex + p.lo, length: p.count) ?? ByteBuffer()
    }

    /// The stored zstd frame of a chunk, verified once (decoded and hashed) when it enters the cache;
    /// hot requests then send it with no decompression at all.
    func encodedChunk(_ c: ChunkRef) async throws -> (ByteBuffer, Bool) {
        let key = ChunkKey(digest: c.digest, encoded: true)
        if let b = cache.get(key) { return (b, true) }
        let l = c.location
        let stored = try await repository.packBytes(l.pack, offset: l.offset, length: l.storedSize, for: c.digest)
        let decoded: [UInt8]
        do {
            decoded = try stored.withUnsafeBytes {
                try ChunkCodec.decode($0, codec: .zstd, rawSize: l.rawSize, digest: c.digest, dictionary: nil, decompressor: ZstdDecompressor())
            }
        } catch let e as CorruptChunkError {
            throw RepositoryError.corrupt("\(e) (pack \(l.pack.hex))")
        }
        cache.put(ChunkKey(digest: c.digest, encoded: false), ByteBuffer(bytes: decoded))
        let buf = ByteBuffer(bytes: stored)
        cache.put(key, buf)
        return (buf, false)
    }

    // MARK: Header parsing

    /// Whether `Accept-Encoding` lists zstd with a non-zero quality.
    static func acceptsZstd(_ header: String?) -> Bool {
        guard let header, header.utf8.count < 1024 else { return false }
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";")
            guard let name = parts.first?.trimmingCharacters(in: .whitespaces).lowercased(), name == "zstd" else { continue }
            for p in parts.dropFirst() {
                let kv = p.trimmingCharacters(in: .whitespaces).lowercased()
                if kv.hasPrefix("q="), let q = Double(kv.dropFirst(2)), q <= 0 { return false }
            }
            return true
        }
        return false
    }

    /// `If-None-Match` against an ETag (weak comparison, as RFC 9110 prescribes for it).
    static func matches(_ header: String, _ etag: String) -> Bool {
        let bare = etag.hasPrefix("W/") ? String(etag.dropFirst(2)) : etag
        for item in header.split(separator: ",") {
            var t = item.trimmingCharacters(in: .whitespaces)
            if t == "*" { return true }
            if t.hasPrefix("W/") { t = String(t.dropFirst(2)) }
            if t == bare { return true }
        }
        return false
    }
}
