import TroveContent
import CZstd

/// How manifests (and the shared index) are stored as objects: the SQLite file compressed as one zstd
/// frame. A manifest is named by the SHA-256 of its *uncompressed* SQLite bytes, so the name identifies
/// the content whatever the compression; readers decompress, then verify the digest.
///
/// Digests dominate a manifest and do not compress, but SQLite's page slack and repeated row structure
/// do: stored manifests are about half the size of the database files.
public enum ManifestCodec {
    static let sqliteMagic = Array("SQLite format 3\u{0}".utf8)
    /// Level 3, the level chunks are stored at: on the docs benchmark's manifest (1.4 MB of SQLite)
    /// 823 KB in 9 ms, where level 6 gave 814 KB (1.2% smaller) in 16–21 ms and level 12 1.5% less
    /// again at four times that; the digests that dominate a manifest do not compress at any level.
    static let level: Int32 = 3

    /// Compresses SQLite bytes for storage, with zstd's frame checksum so objects that are not named by
    /// their digest (the shared index) are still checked on read.
    public static func encode(_ sqlite: [UInt8]) throws -> [UInt8] {
        guard let cctx = ZSTD_createCCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeCCtx(cctx) }
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1)
        var error = 0
        // Not zero-filled first: zstd writes what it returns.
        let out = [UInt8](unsafeUninitializedCapacity: ZstdCompressor.bound(sqlite.count)) { buf, count in
            let n = sqlite.withUnsafeBytes { s in ZSTD_compress2(cctx, buf.baseAddress, buf.count, s.baseAddress, s.count) }
            if ZSTD_isError(n) != 0 { error = n; count = 0 } else { count = n }
        }
        if error != 0 { throw ZstdError(String(cString: ZSTD_getErrorName(error))) }
        return out
    }

    /// Returns the SQLite bytes of a stored object (a zstd frame, or a plain SQLite file as written by
    /// early development builds), checked against `digest` when the object is named by one. Neither
    /// the object nor its decompressed bytes may exceed `limit` (`ManifestLimits.maxManifestBytes`):
    /// decompression stops there, whatever size the frame declares.
    public static func decode(_ object: [UInt8], digest: Digest?, name: String,
                              limit: Int = ManifestLimits.maxManifestBytes) throws -> [UInt8] {
        guard object.count <= limit else {
            throw ManifestError.malformed("\(name): \(object.count) bytes, more than the \(limit >> 20) MiB a manifest may have")
        }
        let sqlite: [UInt8]
        if object.starts(with: sqliteMagic) {
            sqlite = object
        } else {
            sqlite = try decompress(object, limit: limit, name: name)
        }
        if let digest, Digest.sha256(sqlite) != digest {
            throw ManifestError.malformed("\(name) does not match its digest \(digest.hex)")
        }
        return sqlite
    }

    /// Decompresses zstd frames, never producing (or allocating for) more than `limit` bytes: the
    /// declared content size only sizes the first buffer when it is within the limit.
    static func decompress(_ object: [UInt8], limit: Int, name: String) throws -> [UInt8] {
        let declared = object.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard declared != ZSTD_CONTENTSIZE_ERROR else {
            throw ManifestError.malformed("\(name): neither a SQLite file nor a zstd frame of one")
        }
        let tooLarge = ManifestError.malformed("\(name): decompresses to more than the \(limit >> 20) MiB a manifest may have")
        if declared != ZSTD_CONTENTSIZE_UNKNOWN, declared > UInt64(limit) { throw tooLarge }
        guard let dctx = ZSTD_createDCtx() else { throw ZstdError("out of memory") }
        defer { ZSTD_freeDCtx(dctx) }
        // One byte past the limit tells "exactly the limit" from "more".
        var capacity = declared == ZSTD_CONTENTSIZE_UNKNOWN ? min(limit + 1, max(1 << 20, object.count * 4)) : Int(declared) + 1
        var out = [UInt8](repeating: 0, count: capacity)
        var produced = 0
        var pending = 1
        try object.withUnsafeBytes { src in
            var input = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while input.pos < input.size || pending != 0 {
                if produced == capacity {
                    guard capacity <= limit else { throw tooLarge }
                    capacity = min(limit + 1, capacity * 2)
                    out.append(contentsOf: repeatElement(0, count: capacity - out.count))
                }
                let before = (input.pos, produced)
                pending = out.withUnsafeMutableBytes { dst in
                    var output = ZSTD_outBuffer(dst: dst.baseAddress, size: capacity, pos: produced)
                    let r = ZSTD_decompressStream(dctx, &output, &input)
                    produced = output.pos
                    return r
                }
                if ZSTD_isError(pending) != 0 {
                    throw ManifestError.malformed("\(name): \(String(cString: ZSTD_getErrorName(pending)))")
                }
                if produced > limit { throw tooLarge }
                // No progress with input left and room to write: a truncated frame.
                if before == (input.pos, produced), produced < capacity {
                    throw ManifestError.malformed("\(name): truncated zstd frame")
                }
            }
        }
        out.removeLast(out.count - produced)
        return out
    }
}
