import Testing
import TroveContent
import TroveTesting

func boundaries(_ data: [UInt8], _ c: FastCDC) -> [Int] {
    data.withUnsafeBytes { raw in
        var offs: [Int] = [], o = 0
        for l in c.chunkLengths(of: raw) { o += l; offs.append(o) }
        return offs
    }
}

@Suite struct FastCDCTests {
    let params = ChunkerParameters.default

    @Test(arguments: [1 as UInt64, 2, 3])
    func boundsHold(seed: UInt64) {
        let data = pseudoRandom(4 << 20, seed: seed)
        let lengths = data.withUnsafeBytes { FastCDC(params).chunkLengths(of: $0) }
        #expect(lengths.reduce(0, +) == data.count)
        for l in lengths.dropLast() {
            #expect(l >= params.minSize && l <= params.maxSize)
        }
        #expect(lengths.last! <= params.maxSize)
    }

    @Test func averageNearTarget() {
        let data = pseudoRandom(16 << 20, seed: 42)
        let lengths = data.withUnsafeBytes { FastCDC(params).chunkLengths(of: $0) }
        let avg = Double(data.count) / Double(lengths.count)
        // Normalized chunking centres sizes on min + avg-ish; accept ±35% of the configured average.
        #expect(avg > Double(params.avgSize) * 0.65 && avg < Double(params.avgSize) * 1.35, "average \(avg)")
    }

    @Test func deterministic() {
        let data = pseudoRandom(2 << 20, seed: 7)
        #expect(boundaries(data, FastCDC(params)) == boundaries(data, FastCDC(params)))
    }

    @Test func insertionDoesNotShiftLaterBoundaries() {
        let data = pseudoRandom(8 << 20, seed: 9)
        let c = FastCDC(params)
        let before = Set(boundaries(data, c))
        let shifted = boundaries([0x5a] + data, c).map { $0 - 1 }
        let common = Set(shifted).intersection(before)
        // All but the first couple of boundaries re-synchronise.
        #expect(Double(common.count) >= Double(before.count) * 0.98, "\(common.count) of \(before.count) boundaries kept")
    }

    @Test func localEditChangesFewChunks() {
        var data = pseudoRandom(8 << 20, seed: 11)
        let c = FastCDC(params)
        let before = Set(boundaries(data, c))
        data[4 << 20] ^= 0xff
        let after = Set(boundaries(data, c))
        #expect(before.symmetricDifference(after).count <= 4)
    }

    @Test func streamingNeedsMoreInputUntilFinal() {
        let data = pseudoRandom(params.minSize / 2, seed: 3)
        data.withUnsafeBytes { raw in
            #expect(FastCDC(params).nextCut(raw, isFinal: false) == nil)
            #expect(FastCDC(params).nextCut(raw, isFinal: true) == raw.count)
        }
    }

    @Test func emptyAndTinyInputs() {
        #expect([UInt8]().withUnsafeBytes { FastCDC(params).chunkLengths(of: $0) } == [])
        #expect([UInt8](repeating: 1, count: 10).withUnsafeBytes { FastCDC(params).chunkLengths(of: $0) } == [10])
    }

    @Test func uniformDataCutsAtMax() {
        let data = [UInt8](repeating: 0, count: 1 << 20)
        let lengths = data.withUnsafeBytes { FastCDC(params).chunkLengths(of: $0) }
        #expect(lengths.dropLast().allSatisfy { $0 == params.maxSize || $0 >= params.minSize })
    }

    @Test func parameterValidation() {
        #expect(throws: ChunkerParameterError.self) { try ChunkerParameters(minSize: 10, avgSize: 8192, maxSize: 65536).validate() }
        #expect(throws: ChunkerParameterError.self) { try ChunkerParameters(minSize: 2048, avgSize: 6000, maxSize: 65536).validate() }
        #expect(throws: ChunkerParameterError.self) { try ChunkerParameters(minSize: 4096, avgSize: 2048, maxSize: 65536).validate() }
        #expect(throws: Never.self) { try ChunkerParameters.default.validate() }
    }
}
