/// Chunk-size bounds for content-defined chunking. Recorded in every manifest: changing them changes
/// where chunks are cut (so dedup against older builds drops), never what bytes are stored.
public struct ChunkerParameters: Sendable, Equatable, Codable {
    public var minSize: Int
    public var avgSize: Int
    public var maxSize: Int

    /// 2 KiB / 8 KiB / 64 KiB: small enough that a page whose footer changed costs one ~8 KiB chunk,
    /// large enough to keep the chunk index small. See docs/storage-format.md for the measurements.
    public static let `default` = ChunkerParameters(minSize: 2 << 10, avgSize: 8 << 10, maxSize: 64 << 10)

    public init(minSize: Int, avgSize: Int, maxSize: Int) {
        self.minSize = minSize
        self.avgSize = avgSize
        self.maxSize = maxSize
    }

    /// Checks the bounds FastCDC needs: 64 B ≤ min ≤ avg ≤ max ≤ 64 MiB, avg a power of two.
    public func validate() throws(ChunkerParameterError) {
        guard minSize >= 64, minSize <= avgSize, avgSize <= maxSize, maxSize <= 64 << 20 else {
            throw ChunkerParameterError(message: "chunk sizes must satisfy 64 ≤ min ≤ avg ≤ max ≤ 64 MiB (got \(minSize)/\(avgSize)/\(maxSize))")
        }
        guard avgSize.nonzeroBitCount == 1 else {
            throw ChunkerParameterError(message: "average chunk size must be a power of two (got \(avgSize))")
        }
    }
}

public struct ChunkerParameterError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// FastCDC (Xia et al., 2016; 2020 revision) content-defined chunking with normalized chunking level 2.
///
/// A gear rolling hash is tested against a stricter mask before the average size and a looser one after,
/// which pulls chunk sizes toward the average. Bytes below the minimum size are skipped entirely, and the
/// 2020 revision's trick of rolling two bytes per step (with a pre-shifted gear table) halves the branches.
/// Boundaries depend only on nearby bytes, so an insertion shifts at most the chunks around it.
public struct FastCDC: Sendable {
    public let parameters: ChunkerParameters
    private let maskS: UInt64
    private let maskL: UInt64
    private let maskSls: UInt64
    private let maskLls: UInt64

    public init(_ parameters: ChunkerParameters = .default) {
        self.parameters = parameters
        let bits = parameters.avgSize.trailingZeroBitCount
        // Normalization level 2: two more mask bits before the average size, two fewer after.
        maskS = FastCDC.mask(bits: bits + 2)
        maskL = FastCDC.mask(bits: max(bits - 2, 1))
        maskSls = maskS << 1
        maskLls = maskL << 1
    }

    /// Returns the length of the next chunk at the start of `data`. When `data` holds fewer than
    /// `maxSize` bytes and `isFinal` is false the caller must supply more bytes first; a return of nil
    /// means "need more input" (no boundary was found before the end of the buffer).
    @inline(__always)
    public func nextCut(_ data: UnsafeRawBufferPointer, isFinal: Bool) -> Int? {
        let n = data.count
        let p = parameters
        if n <= p.minSize { return isFinal ? n : nil }
        let limit = min(n, p.maxSize)
        let center = min(limit, p.avgSize)
        let base = data.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var hash: UInt64 = 0
        var i = p.minSize
        // Roll two bytes per iteration: hash = (hash << 2) + gearLS[b0] + gear[b1].
        return FastCDC.gearTables.withUnsafeBufferPointers { gear, gearLS in
            while i + 1 < center {
                hash = (hash &<< 2) &+ gearLS[Int(base[i])]
                if hash & maskSls == 0 { return i }
                hash = hash &+ gear[Int(base[i + 1])]
                if hash & maskS == 0 { return i + 1 }
                i += 2
            }
            while i + 1 < limit {
                hash = (hash &<< 2) &+ gearLS[Int(base[i])]
                if hash & maskLls == 0 { return i }
                hash = hash &+ gear[Int(base[i + 1])]
                if hash & maskL == 0 { return i + 1 }
                i += 2
            }
            if limit == p.maxSize { return limit }
            return isFinal ? n : nil
        }
    }

    /// All chunk lengths of a complete in-memory buffer (convenience for tests and small inputs).
    public func chunkLengths(of data: UnsafeRawBufferPointer) -> [Int] {
        var out: [Int] = []
        var offset = 0
        while offset < data.count {
            let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
            let len = nextCut(rest, isFinal: true)!
            out.append(len)
            offset += len
        }
        return out
    }

    private static func mask(bits: Int) -> UInt64 {
        // Spread the mask bits over the upper 48 bits of the hash (the well-mixed part of a gear hash),
        // evenly spaced, as FastCDC's published masks do.
        var m: UInt64 = 0
        let span = 48
        for k in 0..<bits {
            m |= 1 << UInt64(63 - (k * span) / bits)
        }
        return m
    }

    /// The gear table: 256 pseudo-random words from a fixed-seed SplitMix64. Part of the storage format.
    static let gearTables = GearTables()
}

struct GearTables: Sendable {
    let gear: [UInt64]
    let gearLS: [UInt64]

    init() {
        var state: UInt64 = 0x7472_6f76_6563_6463 // "trovecdc"
        var g = [UInt64](repeating: 0, count: 256)
        for i in 0..<256 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            g[i] = z ^ (z >> 31)
        }
        gear = g
        gearLS = g.map { $0 &<< 1 }
    }

    @inline(__always)
    func withUnsafeBufferPointers<R>(_ body: (UnsafeBufferPointer<UInt64>, UnsafeBufferPointer<UInt64>) -> R) -> R {
        gear.withUnsafeBufferPointer { g in gearLS.withUnsafeBufferPointer { body(g, $0) } }
    }
}
