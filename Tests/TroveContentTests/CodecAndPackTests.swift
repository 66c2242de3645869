import Testing
import TroveContent

@Suite struct CodecAndPackTests {
    let text: [UInt8] = Array(String(repeating: "<p>The quick brown fox jumps over the lazy dog.</p>\n", count: 200).utf8)

    func compress(_ src: [UInt8], dictionary: ZstdDictionary? = nil) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZstdCompressor.bound(src.count))
        let c = ZstdCompressor()
        let n = try src.withUnsafeBytes { s in try out.withUnsafeMutableBytes { try c.compress(s, into: $0, dictionary: dictionary) } }
        return Array(out[..<n])
    }

    @Test func zstdRoundTrip() throws {
        let z = try compress(text)
        #expect(z.count < text.count / 10)
        let back = try z.withUnsafeBytes { try ChunkCodec.decode($0, codec: .zstd, rawSize: text.count, digest: Digest.sha256(text), dictionary: nil, decompressor: ZstdDecompressor()) }
        #expect(back == text)
    }

    @Test func dictionaryHelpsSmallChunksAndRoundTrips() throws {
        // Samples that share boilerplate, like pages of one site.
        let samples = (0..<400).map { i in Array("<html><head><link rel=stylesheet href=_static/theme.css></head><body><nav>Home · Docs · API</nav><p>Page \(i) \(String(repeating: "x", count: i % 37))</p><footer>Built with Sphinx</footer></body></html>".utf8) }
        let dictBytes = try #require(ZstdDictionary.train(samples: samples, capacity: 16 << 10))
        let dict = try ZstdDictionary(bytes: dictBytes)
        let chunk = samples[123]
        let plain = try compress(chunk), withDict = try compress(chunk, dictionary: dict)
        #expect(withDict.count < plain.count)
        let back = try withDict.withUnsafeBytes { try ChunkCodec.decode($0, codec: .zstdDictionary, rawSize: chunk.count, digest: Digest.sha256(chunk), dictionary: dict, decompressor: ZstdDecompressor()) }
        #expect(back == chunk)
    }

    @Test func decodeRejectsWrongBytes() throws {
        var z = try compress(text)
        z[z.count / 2] ^= 0x01
        #expect(throws: CorruptChunkError.self) {
            try z.withUnsafeBytes { try ChunkCodec.decode($0, codec: .zstd, rawSize: text.count, digest: Digest.sha256(text), dictionary: nil, decompressor: ZstdDecompressor()) }
        }
        var raw = text
        raw[5] ^= 0x20
        #expect(throws: CorruptChunkError.self) {
            try raw.withUnsafeBytes { try ChunkCodec.decode($0, codec: .raw, rawSize: text.count, digest: Digest.sha256(text), dictionary: nil, decompressor: ZstdDecompressor()) }
        }
    }

    @Test func pays() {
        #expect(ChunkCodec.pays(raw: 1000, compressed: 500))
        #expect(!ChunkCodec.pays(raw: 1000, compressed: 990))
        #expect(!ChunkCodec.pays(raw: 10, compressed: 10))
    }

    @Test func packRoundTrip() throws {
        var w = PackWriter()
        let dict = Digest.sha256(Array("dict".utf8))
        var expected: [ChunkRef] = []
        var offset = 0
        for i in 0..<50 {
            let payload = [UInt8](repeating: UInt8(i), count: 100 + i)
            let (codec, dictionary): (Codec, Digest?) = i % 2 == 0 ? (.raw, nil) : (.zstdDictionary, dict)
            payload.withUnsafeBytes { p in
                w.append(digest: Digest.sha256(payload), stored: p, rawSize: payload.count * 2, codec: codec, dictionary: dictionary)
            }
            // The pack is named once finished; the location's `pack` is filled in below.
            expected.append(ChunkRef(digest: Digest.sha256(payload), location: ChunkLocation(
                pack: Digest.sha256([]), offset: offset, storedSize: payload.count, rawSize: payload.count * 2, codec: codec, dictionary: dictionary)))
            offset += payload.count
        }
        let pack = w.finish()
        #expect(pack.digest == Digest.sha256(pack.bytes))
        for i in expected.indices { expected[i].location.pack = pack.digest }
        #expect(pack.entries == expected)
        #expect(try PackReader.entries(fromTail: pack.bytes, packSize: pack.bytes.count, pack: pack.digest) == expected)
        let footer = Array(pack.bytes.suffix(PackWriter.footerSize))
        let tailLength = try PackReader.trailerLength(footer: footer)
        #expect(try PackReader.entries(fromTail: Array(pack.bytes.suffix(tailLength)), packSize: pack.bytes.count, pack: pack.digest) == expected)
        // Entry payloads are where the trailer says.
        let e = expected[7].location
        #expect(Array(pack.bytes[e.offset..<(e.offset + e.storedSize)]) == [UInt8](repeating: 7, count: 107))
    }

    @Test func truncatedPackIsRejected() throws {
        var w = PackWriter()
        [UInt8](repeating: 1, count: 10).withUnsafeBytes { w.append(digest: Digest.sha256([1]), stored: $0, rawSize: 10, codec: .raw, dictionary: nil) }
        let bytes = w.finish().bytes
        let name = Digest.sha256(bytes)
        #expect(throws: PackFormatError.self) { try PackReader.entries(fromTail: Array(bytes.dropLast()), packSize: bytes.count - 1, pack: name) }
        #expect(throws: PackFormatError.self) { try PackReader.entries(fromTail: Array(bytes.suffix(20)), packSize: bytes.count, pack: name) }
    }
}
