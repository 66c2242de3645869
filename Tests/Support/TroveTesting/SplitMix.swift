/// SplitMix64: reproducible randomness for tests (a failure message carries its seed).
public struct SplitMix: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public init(_ seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `n` pseudo-random bytes: each word's bytes lowest first, written straight into the buffer (tests
    /// ask for up to hundreds of MiB).
    public mutating func bytes(_ n: Int) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: n) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            var i = 0
            while i + 8 <= n {
                raw.storeBytes(of: next().littleEndian, toByteOffset: i, as: UInt64.self)
                i += 8
            }
            var w = next()
            while i < n {
                raw[i] = UInt8(truncatingIfNeeded: w)
                w >>= 8
                i += 1
            }
            count = n
        }
    }
}

/// The tests' one deterministic byte generator: `n` incompressible bytes, the same for the same seed.
/// (The golden format tests pin its first bytes, so a change here is told apart from a format change.)
public func pseudoRandom(_ n: Int, seed: UInt64) -> [UInt8] {
    var g = SplitMix(seed: seed)
    return g.bytes(n)
}
