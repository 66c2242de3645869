import Foundation
import Synchronization
import Testing
import TroveContent
import TroveManifest
import TroveRepository
@testable import TrovePublish
import TroveGC
import TroveTesting

@Suite struct RoundTripTests {
    @Test func edgeCaseTreeExportsByteIdentical() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        try fx.write(tree, "empty", [])
        try fx.write(tree, "dir with spaces/naïve café ☕.txt", "unicode and spaces\n")
        try fx.write(tree, "run.sh", Array("#!/bin/sh\necho hi\n".utf8), mode: 0o755)
        var deep = "d"
        for i in 0..<40 { deep += "/level\(i)" }
        try fx.write(tree, deep + "/bottom.html", page(1, date: "x"))
        try fx.write(tree, "big.bin", pseudoRandom(200 << 20, seed: 5))
        try fx.write(tree, "medium/text.txt", String(repeating: "a line of text that repeats\n", count: 100_000))
        try FileManager.default.createDirectory(atPath: tree + "/empty-dir", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: tree + "/link-to-text", withDestinationPath: "medium/text.txt")
        try FileManager.default.createSymbolicLink(atPath: tree + "/medium/up", withDestinationPath: "../run.sh")

        let r = try await fx.publish("proj", "v1", tree)
        #expect(r.switched && r.errors.isEmpty)
        #expect(r.files == 6 && r.symlinks == 2)
        let out = try await fx.export("proj", "v1")
        #expect(try fx.identical(tree, out))
    }

    /// Pack storage is reused once a pack is stored: with one upload slot and 64 KiB packs, a few
    /// hundred packs go through a handful of buffers, and every stored pack must still hash to its
    /// name and hold its own chunks (a reused buffer must never alias a pack being written).
    @Test func reusedPackStorageNeverAliasesAStoredPack() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<40 { try fx.write(tree, "bin/r\(i).bin", pseudoRandom(300 << 10, seed: UInt64(2 * i + 1))) }
        for i in 0..<200 { try fx.write(tree, "html/p\(i).html", page(i, date: "2026-01-01")) }
        var o = PublishOptions()
        o.packSize = 64 << 10
        o.uploads = 1
        let r = try await fx.publish("p", "v1", tree, options: o)
        #expect(r.switched)
        #expect(r.packs > 150)
        let report = try await Verifier(repository: fx.repository, deep: true).run()
        #expect(report.ok, "\(report.problems)")
        #expect(report.packs == r.packs)
        #expect(try fx.identical(tree, try await fx.export("p", "v1")))
    }

    @Test func streamingChunkingMatchesWholeBufferChunking() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        let data = pseudoRandom(11 << 20 + 12345, seed: 77) // many times the 1 MiB read window
        try fx.write(tree, "f.bin", data)
        _ = try await fx.publish("p", "v", tree)
        let m = try await fx.repository.openVersion("p", "v")
        let stored = try m.chunks(of: try #require(try m.file(at: "f.bin"))).map(\.location.rawSize)
        let expected = data.withUnsafeBytes { FastCDC(.default).chunkLengths(of: $0) }
        #expect(stored == expected)
        let chunkDigests = try m.chunks(of: try #require(try m.file(at: "f.bin"))).map(\.digest)
        #expect(try m.file(at: "f.bin")?.digest == Digest.file(chunks: chunkDigests))
        var offset = 0
        for (d, len) in zip(chunkDigests, expected) {
            #expect(d == data.withUnsafeBytes { Digest.sha256(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + len)])) })
            offset += len
        }
    }

    @Test func identicalTreeAsSecondVersionStoresNoNewChunks() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<50 { try fx.write(tree, "html/p\(i).html", page(i, date: "2026-01-01")) }
        try fx.write(tree, "pdf/doc.pdf", pseudoRandom(3 << 20, seed: 1))
        let first = try await fx.publish("p", "v1", tree)
        #expect(first.newChunks > 0)
        let second = try await fx.publish("p", "v2", tree)
        #expect(second.switched)
        #expect(second.newChunks == 0 && second.packs == 0 && second.newBytes == 0)
        #expect(try fx.identical(tree, try await fx.export("p", "v2")))
    }

    @Test func republishingIdenticalContentWritesNothing() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<20 { try fx.write(tree, "html/p\(i).html", page(i, date: "2026-01-01")) }
        let first = try await fx.publish("p", "v1", tree)
        let before = try await fx.repository.store.listAll(prefix: "").map { "\($0.key) \($0.etag)" }
        let putsBefore = fx.metered.snapshot.puts
        let again = try await fx.publish("p", "v1", tree)
        #expect(again.unchanged && !again.switched && again.manifest == first.manifest)
        #expect(again.packs == 0 && again.newChunks == 0 && again.manifestBytes == 0)
        // Only the transient publish lease (gc coordination) is written, and it is gone afterwards.
        #expect(fx.metered.snapshot.puts - putsBefore <= 1)
        #expect(try await fx.repository.store.listAll(prefix: "").map { "\($0.key) \($0.etag)" } == before)
    }

    @Test func oneLineChangedInA50MiBTextFileStoresFewChunks() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        var lines: [String] = []
        for i in 0..<1_400_000 { lines.append("line \(i): \(i &* 2654435761 % 1_000_003) lorem ipsum dolor") }
        let text = lines.joined(separator: "\n")
        try fx.write(tree, "big.txt", text)
        #expect(text.utf8.count > 45 << 20)
        let first = try await fx.publish("p", "v", tree)
        lines[700_000] = "line 700000: THIS LINE WAS EDITED"
        try fx.write(tree, "big.txt", lines.joined(separator: "\n"))
        let second = try await fx.publish("p", "v", tree)
        #expect(second.switched)
        #expect(second.newChunks >= 1 && second.newChunks <= 3, "new chunks: \(second.newChunks) of \(first.chunks)")
        #expect(try fx.identical(tree, try await fx.export("p", "v")))
    }

    @Test func footerDateChangeOnEveryPageStoresASmallFraction() async throws {
        let fx = try Fixture()
        let tree = fx.dir("tree")
        for i in 0..<300 { try fx.write(tree, "html/p\(i).html", page(i, date: "January 1, 2026")) }
        let first = try await fx.publish("p", "latest", tree)
        for i in 0..<300 { try fx.write(tree, "html/p\(i).html", page(i, date: "January 2, 2026")) }
        let second = try await fx.publish("p", "latest", tree)
        let fraction = Double(second.newStoredBytes) / Double(first.newStoredBytes)
        print("footer rebuild: \(second.newChunks) new chunks, \(second.newStoredBytes) of \(first.newStoredBytes) stored bytes (\(String(format: "%.1f", fraction * 100))%)")
        #expect(second.newChunks == 300) // one small chunk per page
        #expect(fraction < 0.2)
        #expect(second.newStoredBytes / 300 < 1536, "\(second.newStoredBytes / 300) new stored bytes per page")
        #expect(try fx.identical(tree, try await fx.export("p", "latest")))
    }

    @Test func concurrentPublishesOfOneVersionLeaveOneCompleteManifest() async throws {
        let fx = try Fixture()
        let a = fx.dir("a"), b = fx.dir("b")
        for i in 0..<30 {
            try fx.write(a, "html/p\(i).html", page(i, date: "A"))
            try fx.write(b, "html/p\(i).html", page(i, date: "B"))
        }
        // A barrier on the ref switch: the first two switches each wait until both publishes have got
        // there, so both read the ref before either switched it (the overlap this test is about, made
        // certain instead of hoped for); the loser's retry passes straight through.
        let barrier = SwitchBarrier(parties: 2)
        let store = HookedStore(fx.metered, put: { key, write in
            if case .version? = StoreLayout.refEntry(key) { await barrier.arrive() }
            return try await write()
        })
        let racing = Repository(store: store, cacheDirectory: fx.root.appendingPathComponent("cache-race"))
        var o = PublishOptions()
        o.buildTime = Date(timeIntervalSince1970: 1_700_000_000)
        async let ra = Publisher(repository: racing, options: o).publish(project: "p", version: "v", from: a)
        async let rb = Publisher(repository: racing, options: o).publish(project: "p", version: "v", from: b)
        let (x, y) = try await (ra, rb)
        #expect(x.switched && y.switched)
        let ref = try #require(try await fx.repository.ref("p", "v"))
        let names = Set([x.manifest, y.manifest].compactMap { $0 })
        #expect(names.contains(ref.ref.current.manifest.hex))
        #expect(ref.ref.history.count == 1 && names.contains(ref.ref.history[0].manifest.hex))
        // The later of the two knows it replaced a concurrent build; the earlier does not.
        let loser = ref.ref.history[0].manifest.hex
        let winnerReport = x.manifest == ref.ref.current.manifest.hex ? x : y
        #expect(winnerReport.replacedConcurrentPublish == loser)
        #expect((x.manifest == loser ? x : y).replacedConcurrentPublish == nil)
        let out = try await fx.export("p", "v")
        #expect(try fx.identical(a, out) || (try fx.identical(b, out)))
    }

    @Test func sharedIndexDedupsAcrossProjects() async throws {
        let fx = try Fixture()
        let theme = pseudoRandom(300 << 10, seed: 99)
        var trees: [String] = []
        for (n, name) in ["alpha", "beta", "gamma"].enumerated() {
            let t = fx.dir(name)
            try fx.write(t, "html/_static/theme.js", theme)
            try fx.write(t, "html/index.html", page(n, date: name))
            trees.append(t)
        }
        _ = try await fx.publish("alpha", "v1", trees[0])
        let beta = try await fx.publish("beta", "v1", trees[1])
        #expect(beta.newBytes >= theme.count) // no index yet: stored again, never lost
        let shared = try await SharedIndexBuilder.rebuild(fx.repository, toolVersion: "test")
        #expect(shared > 0)
        let gamma = try await fx.publish("gamma", "v1", trees[2])
        #expect(gamma.newBytes < theme.count / 4, "gamma stored \(gamma.newBytes) new bytes")
        #expect(try fx.identical(trees[2], try await fx.export("gamma", "v1")))
    }
}

/// The first `parties` callers of `arrive()` wait until all of them have arrived; later callers pass.
final class SwitchBarrier: Sendable {
    private let state: Mutex<(arrived: Int, waiting: [CheckedContinuation<Void, Never>])>
    private let parties: Int

    init(parties: Int) {
        self.parties = parties
        state = Mutex((0, []))
    }

    func arrive() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let release: [CheckedContinuation<Void, Never>] = state.withLock { st in
                st.arrived += 1
                if st.arrived < parties { st.waiting.append(c); return [] }
                let all = st.waiting + [c]
                st.waiting = []
                return all
            }
            for r in release { r.resume() }
        }
    }
}
