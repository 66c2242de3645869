import Dispatch
import Synchronization
import Testing
import TroveContent

@Suite struct DigestTests {
    @Test func knownVectors() {
        #expect(Digest.sha256(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.sha256([UInt8]()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func incrementalMatchesOneShot() {
        let data = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = SHA256Hasher()
        h.update(data[0..<1])
        h.update(Array(data[1..<50_000]))
        h.update(Array(data[50_000...]))
        #expect(h.finalize() == Digest.sha256(data))
    }

    /// The SHA-256 algorithm object is fetched once and shared: hashing from many threads at once gives
    /// the same digests as hashing serially.
    @Test func concurrentHashingMatchesSerial() {
        let buffers = (0..<64).map { i in (0..<(1_000 + i * 997)).map { UInt8(truncatingIfNeeded: $0 &* (i + 3)) } }
        let serial = buffers.map { Digest.sha256($0) }
        let results = Mutex([Digest?](repeating: nil, count: buffers.count))
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            for i in stride(from: t, to: buffers.count, by: 8) {
                var h = SHA256Hasher()
                h.update(buffers[i])
                let incremental = h.finalize()
                let d = Digest.sha256(buffers[i])
                results.withLock { $0[i] = d == incremental ? d : nil }
            }
        }
        #expect(results.withLock { $0 } == serial.map { Optional($0) })
    }

    @Test func hexRoundTripAndOrdering() throws {
        let d = Digest.sha256(Array("trove".utf8))
        #expect(Digest(hex: d.hex) == d)
        #expect(Digest(hex: d.hex.uppercased()) == d)
        #expect(Digest(hex: "zz" + d.hex.dropFirst(2)) == nil)
        #expect(Digest(hex: d.hex.dropLast()) == nil)
        #expect(Digest(bytes: d.bytes) == d)
        let a = Digest(hex: String(repeating: "0", count: 63) + "1")!, b = Digest(hex: "1" + String(repeating: "0", count: 63))!
        #expect(a < b)
    }

    @Test func fileDigestDependsOnEveryChunkInOrder() {
        let a = Digest.sha256([1]), b = Digest.sha256([2])
        #expect(Digest.file(chunks: [a, b]) == Digest.file(chunks: [a, b]))
        #expect(Digest.file(chunks: [a, b]) != Digest.file(chunks: [b, a]))
        #expect(Digest.file(chunks: [a]) != a)
        #expect(Digest.file(chunks: []) != Digest.sha256([UInt8]()))
    }
}
