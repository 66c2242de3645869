import CZstd

/// Errors from zstd, carrying zstd's own explanation.
public struct ZstdError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "zstd: \(message)" }
    init(code: Int) { message = String(cString: ZSTD_getErrorName(code)) }
    public init(_ message: String) { self.message = message }
}

/// A zstd dictionary, trained on a project's own content and stored once in the store under its digest.
/// Small chunks compress far better with one, because a lone chunk has lost its neighbours' context.
public final class ZstdDictionary: @unchecked Sendable {
    // Immutable after init; the prepared CDict/DDict are thread-safe for concurrent use per zstd's docs.
    public let bytes: [UInt8]
    public let digest: Digest
    let cdict: OpaquePointer
    let ddict: OpaquePointer

    public init(bytes: [UInt8], level: Int32 = ZstdCompressor.defaultLevel) throws {
        guard !bytes.isEmpty else { throw ZstdError("empty dictionary") }
        self.bytes = bytes
        self.digest = Digest.sha256(bytes)
        guard let c = bytes.withUnsafeBytes({ ZSTD_createCDict($0.baseAddress, $0.count, level) }),
              let d = bytes.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) }) else {
            throw ZstdError("cannot load dictionary")
        }
        cdict = c
        ddict = d
    }

    deinit {
        ZSTD_freeCDict(cdict)
        ZSTD_freeDDict(ddict)
    }

    /// How to train: zstd's parameter search (several passes) or one fast COVER pass with fixed
    /// parameters: segment size `k`, d-mer size `d`, and a frequency table of 2^`f` entries.
    public enum Training: Sendable {
        case search
        case fastCover(k: UInt32, d: UInt32, f: UInt32)

        /// What publish uses: one pass, k = 1024, d = 8, f = 16. zstd's default table (f = 20, 4 MiB)
        /// spends most of the pass on cache misses; 2^16 entries trained as good a dictionary on a real
        /// docs build in 60% of the time (docs/benchmarks.md, "dictionary training").
        public static let `default` = Training.fastCover(k: 1024, d: 8, f: 16)
    }

    /// Trains a dictionary of at most `capacity` bytes from sample buffers (those under 8 bytes are
    /// skipped). Returns nil when the samples are too few or too uniform to train on.
    public static func train(samples: [[UInt8]], capacity: Int = 112 << 10, training: Training = .default) -> [UInt8]? {
        var joined = [UInt8]()
        joined.reserveCapacity(samples.reduce(0) { $0 + $1.count })
        var sizes = [Int]()
        for s in samples where s.count >= 8 { joined.append(contentsOf: s); sizes.append(s.count) }
        return train(joined: joined, sizes: sizes, capacity: capacity, training: training)
    }

    /// Trains from samples stored back to back in `joined` (zstd's own layout, no buffer per sample);
    /// `sizes` gives each sample's length, every one at least 8 bytes. Nil as above.
    public static func train(joined: [UInt8], sizes: [Int], capacity: Int = 112 << 10, training: Training = .default) -> [UInt8]? {
        precondition(sizes.reduce(0, +) == joined.count, "sample sizes must add up to the joined bytes")
        guard sizes.count >= 8, sizes.allSatisfy({ $0 >= 8 }) else { return nil }
        var dict = [UInt8](repeating: 0, count: capacity)
        let n = dict.withUnsafeMutableBytes { d in
            joined.withUnsafeBytes { j in
                switch training {
                case .search:
                    return ZDICT_trainFromBuffer(d.baseAddress, d.count, j.baseAddress, sizes, UInt32(sizes.count))
                case .fastCover(let k, let dm, let f):
                    var p = ZDICT_fastCover_params_t()
                    p.k = k
                    p.d = dm
                    p.f = f
                    p.accel = 1
                    p.nbThreads = 1
                    p.zParams.compressionLevel = Int32(ZstdCompressor.defaultLevel)
                    return ZDICT_trainFromBuffer_fastCover(d.baseAddress, d.count, j.baseAddress, sizes, UInt32(sizes.count), p)
                }
            }
        }
        guard ZDICT_isError(n) == 0, n > 0 else { return nil }
        return Array(dict[..<n])
    }
}

/// A zstd compression context. Not thread-safe: give each worker thread its own.
public struct ZstdCompressor: ~Copyable {
    public static let defaultLevel: Int32 = 3
    private let cctx: OpaquePointer
    public let level: Int32

    public init(level: Int32 = ZstdCompressor.defaultLevel) {
        cctx = ZSTD_createCCtx()
        self.level = level
    }

    deinit { ZSTD_freeCCtx(cctx) }

    /// Worst-case compressed size of `count` input bytes.
    public static func bound(_ count: Int) -> Int { ZSTD_compressBound(count) }

    /// Compresses `src` into `dst` (which must hold `bound(src.count)` bytes); returns the compressed length.
    public func compress(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer,
                         dictionary: ZstdDictionary? = nil) throws -> Int {
        let n: Int
        if let dictionary {
            n = ZSTD_compress_usingCDict(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, dictionary.cdict)
        } else {
            n = ZSTD_compressCCtx(cctx, dst.baseAddress, dst.count, src.baseAddress, src.count, level)
        }
        if ZSTD_isError(n) != 0 { throw ZstdError(code: n) }
        return n
    }
}

/// A zstd decompression context. Not thread-safe: give each worker its own, or make one per call.
public struct ZstdDecompressor: ~Copyable {
    private let dctx: OpaquePointer

    public init() { dctx = ZSTD_createDCtx() }
    deinit { ZSTD_freeDCtx(dctx) }

    /// Decompresses a frame whose decoded size is exactly `rawSize`; anything else is corruption.
    public func decompress(_ src: UnsafeRawBufferPointer, rawSize: Int, dictionary: ZstdDictionary? = nil) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: rawSize)
        let n = out.withUnsafeMutableBytes { dst in
            if let dictionary {
                return ZSTD_decompress_usingDDict(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count, dictionary.ddict)
            }
            return ZSTD_decompressDCtx(dctx, dst.baseAddress, dst.count, src.baseAddress, src.count)
        }
        if ZSTD_isError(n) != 0 { throw ZstdError(code: n) }
        guard n == rawSize else { throw ZstdError("decoded \(n) bytes, expected \(rawSize)") }
        return out
    }

    /// The dictionary id a frame was compressed with (0 when none), read from its header.
    public static func dictionaryID(ofFrame src: UnsafeRawBufferPointer) -> UInt32 {
        ZSTD_getDictID_fromFrame(src.baseAddress, src.count)
    }
}
