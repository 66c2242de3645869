import Testing
import TroveContent
import TroveTesting

/// Golden values that pin the content format (docs/storage-format.md): where FastCDC cuts a fixed
/// input, how a file digest is formed, and a pack's exact bytes. Every other chunker test compares the
/// chunker with itself; these fail when the gear table, its seed, the normalisation masks, the digest
/// rule or the pack encoding change — a format change, which must come with a new format version.
/// The file digest and the pack bytes were cross-checked with a separate reading of the documented
/// rules (a few lines of Python's hashlib and struct), not only taken from this code.
@Suite struct FormatGoldenTests {
    /// 256 KiB from the tests' byte generator, seed 1 (pinned below, so a generator change is told
    /// apart from a chunker change).
    static let input = pseudoRandom(256 << 10, seed: 1)

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func theGoldenInputIsUnchanged() {
        #expect(Self.hex(Array(Self.input.prefix(16))) == "c15c0289ec2d0a9167ec8e65a18debbe")
        #expect(Digest.sha256(Self.input).hex == "9344cb164e6ee8675b96cdc286206cedde6e5631ad0e42183779888f5bfe82dd")
    }

    /// The default chunker (2/8/64 KiB) on the fixed input: the end offset of every chunk.
    @Test func fastCDCCutPointsWithTheDefaultSizes() {
        let cuts = [
            8521, 12835, 22533, 26977, 35915, 46051, 54202, 64028, 72876, 82173, 86345, 90378, 101299,
            110396, 119063, 129507, 138411, 147791, 157917, 167111, 178509, 188881, 194045, 202900, 213642,
            222138, 231069, 240565, 250340, 261112, 262144,
        ]
        #expect(boundaries(Self.input, FastCDC(.default)) == cuts)
    }

    /// Other sizes (recorded per manifest) derive other masks from the same gear table: 512/2048/8192
    /// on the first 64 KiB of the input.
    @Test func fastCDCCutPointsWithSmallSizes() {
        let small = ChunkerParameters(minSize: 512, avgSize: 2048, maxSize: 8192)
        let cuts = [
            1712, 2848, 5444, 6072, 8814, 10504, 11480, 13869, 15048, 17322, 18550, 20974, 21688, 24708,
            25846, 27856, 29668, 30460, 33631, 35685, 37941, 40067, 41695, 43765, 44918, 47129, 49183, 51311,
            53622, 56122, 58480, 60753, 62643, 65536,
        ]
        #expect(boundaries(Array(Self.input.prefix(64 << 10)), FastCDC(small)) == cuts)
    }

    /// A file's digest: SHA-256 over `"trove-file-v1\n"` and its chunks' digests in order.
    @Test func fileDigestRule() {
        let chunks = [Digest.sha256(Array("chunk one".utf8)), Digest.sha256(Array("chunk two".utf8))]
        #expect(Digest.file(chunks: chunks).hex == "3fc1ae4fc03a197d404e91fc6aa01584bc7f09ccf1bfa7fc3ad80eae471f01da")
        #expect(Digest.file(chunks: []).hex == "275a6af79299e9d055c28aa85edd85c9fe6e270e6ed763391a874db01c101014")
    }

    /// A pack of three fixed chunks (one of each codec, one naming a dictionary): its bytes, payload
    /// then trailer and footer, and its name, the SHA-256 of those bytes.
    @Test func packBytesAndDigest() {
        let dictionary = Digest.sha256(Array("dictionary".utf8))
        let chunks: [(stored: [UInt8], raw: Int, codec: Codec, dictionary: Digest?)] = [
            (Array("alpha".utf8), 5, .raw, nil),
            (Array("beta, compressed".utf8), 40, .zstd, nil),
            ([1, 2, 3, 4], 12, .zstdDictionary, dictionary),
        ]
        var writer = PackWriter()
        for (i, c) in chunks.enumerated() {
            c.stored.withUnsafeBytes {
                writer.append(digest: Digest.sha256(Array("raw chunk \(i)".utf8)), stored: $0, rawSize: c.raw,
                              codec: c.codec, dictionary: c.dictionary)
            }
        }
        let pack = writer.finish()
        let expected = [
            "616c706861626574612c20636f6d7072657373656401020304", // payload: alpha, beta..., 01 02 03 04
            "5452565041434b3101000000177ca70f42def1238e36da329473263ed3feadd14094c079a2230be0193436f5", // "TRVPACK1", 1 dictionary, its digest
            "03000000", // 3 entries
            "552814d8bc4883fac33c8dbfed9824a278fb5925e727f5bf11b81e1e3537ded2000000000000000005000000050000000000ffff", // entry 0: digest, offset, stored, raw, codec, 0, dictionary index
            "58cd666783b4f2bebde9d7dee592b855fbfa1ed5712ac481b990fbda850c02b1050000000000000010000000280000000100ffff", // entry 1: digest, offset, stored, raw, codec, 0, dictionary index
            "3b1febde93a68bbfee460c9fdc3ee59e628d4ac0c9bc450f6883be03e7118c3b1500000000000000040000000c00000002000000", // entry 2: digest, offset, stored, raw, codec, 0, dictionary index
            "cc000000545256454e443031", // trailer length, "TRVEND01"
        ].joined()
        #expect(Self.hex(pack.bytes) == expected)
        #expect(pack.digest.hex == "24f5b15788b22fb94981ce66e6606f9d887583dc399dc3d8277e20742c6074ea")
        #expect(pack.digest == Digest.sha256(pack.bytes))
    }
}
