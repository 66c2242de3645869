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
    /// early development builds), checked against `digest` when the object is named by one.
    public static func decode(_ object: [UInt8], digest: Digest?, name: String) throws -> [UInt8] {
        let sqlite: [UInt8]
        if object.starts(with: sqliteMagic) {
            sqlite = object
        } else {
            let size = object.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
            guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size < 1 << 34 else {
                throw ManifestError.malformed("\(name): neither a SQLite file nor a zstd frame of one")
            }
            do { sqlite = try object.withUnsafeBytes { try ZstdDecompressor().decompress($0, rawSize: Int(size)) } }
            catch { throw ManifestError.malformed("\(name): \(error)") }
        }
        if let digest, Digest.sha256(sqlite) != digest {
            throw ManifestError.malformed("\(name) does not match its digest \(digest.hex)")
        }
        return sqlite
    }
}
