import Foundation
import Synchronization
import Testing
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage
@testable import TrovePublish

/// A project's first publish trains its dictionary on one worker while the others chunk and hash,
/// deferring compression of their new chunks until the dictionary is stored (PublishWorkers).
@Suite struct DictionaryOverlapTests {
    /// A docs-like tree: enough text to train on, plus already-compressed files that need no dictionary.
    func docsTree(_ fx: Fixture) throws -> String {
        let t = fx.dir("tree")
        for i in 0..<40 { try fx.write(t, "html/p\(i).html", page(i, date: "2026-01-01")) }
        try fx.write(t, "htmlzip/site.zip", pseudoRandom(600 << 10, seed: 5))
        try fx.write(t, "html/_static/logo.png", pseudoRandom(40 << 10, seed: 6))
        try fx.write(t, "pdf/site.pdf", pseudoRandom(300 << 10, seed: 7))
        return t
    }

    struct Run {
        var stats: WorkerStats
        var locations: [Digest: ChunkLocation]
        var outcomes: [FileOutcome]
    }

    /// Runs the workers over `tree` on 2 threads into a fresh memory store.
    func runWorkers(_ tree: String, dictionary: PendingDictionary, train: (@Sendable () throws -> ZstdDictionary?)? = nil,
                    deferLimit: Int = 32 << 20, events: (@Sendable (PublishWorkers.Event) -> Void)? = nil) async throws -> Run {
        let files = try TreeWalker.walk(root: tree).entries.filter { $0.kind == .file }
        let uploader = PackUploader(store: MemoryBlobStore(), targetSize: 256 << 10, maxInFlight: 2)
        let workers = PublishWorkers(root: tree, files: files, index: ChunkIndex(), chunker: FastCDC(.default),
                                     dictionary: dictionary, train: train, deferLimit: deferLimit,
                                     uploader: uploader, progress: PublishProgress(), events: events)
        let (outcomes, stats) = try await workers.run(threads: 2)
        return Run(stats: stats, locations: try await uploader.finish().locations, outcomes: outcomes)
    }

    func digests(_ outcomes: [FileOutcome]) -> [Digest?] {
        outcomes.map { if case .stored(let d, _, _, _) = $0 { d } else { nil } }
    }

    /// A file that stops compressing (a PDF's deflated streams) is not put through zstd chunk after
    /// chunk, yet text after such a run still compresses: at most one probe interval of it is stored
    /// raw. Both when chunks are compressed at once and when they waited for the dictionary.
    @Test func incompressibleRunsAreSkippedButTextAfterThemCompresses() async throws {
        let fx = try Fixture()
        let t = fx.dir("tree")
        for i in 0..<40 { try fx.write(t, "html/p\(i).html", page(i, date: "2026-01-01")) }
        var text: [UInt8] = []
        var n = 0
        while text.count < 512 << 10 { text += Array(page(1000 + n, date: "x").utf8); n += 1 }
        let textStart = 1 << 20
        try fx.write(t, "pdf/doc.pdf", pseudoRandom(textStart, seed: 11) + text + pseudoRandom(512 << 10, seed: 13))
        let files = try TreeWalker.walk(root: t).entries.filter { $0.kind == .file }
        let pdf = try #require(files.firstIndex { $0.path == "pdf/doc.pdf" })
        let dict = try #require(try DictionaryTrainer.train(root: t, files: files, chunker: .default))
        let behind = WorkerGate()
        let slow: @Sendable () throws -> ZstdDictionary? = { behind.wait(); return dict }

        for (label, run) in [("known dictionary", try await runWorkers(t, dictionary: PendingDictionary(resolved: dict))),
                             ("deferred", try await runWorkers(t, dictionary: PendingDictionary(), train: slow, events: behind.open))] {
            if label == "deferred" { #expect(run.stats.deferredChunks > 0, "training finished before any chunk waited for it") }
            guard case .stored(_, _, let chunks, _) = run.outcomes[pdf] else { Issue.record("\(label): pdf not stored"); continue }
            var offset = 0, textRaw = 0, textCompressed = 0, randomCompressed = 0
            for (d, len) in chunks {
                let codec = try #require(run.locations[d]).codec
                if offset >= textStart && offset + len <= textStart + text.count {
                    if codec == .raw { textRaw += 1 } else { textCompressed += 1 }
                } else if offset + len <= textStart && codec != .raw {
                    randomCompressed += 1
                }
                offset += len
            }
            #expect(run.stats.untriedChunks > 100, "\(label): \(run.stats.untriedChunks) chunks skipped")
            #expect(textCompressed > 40 && textRaw < CompressionProbe.probeEvery, "\(label): text \(textCompressed) compressed, \(textRaw) raw")
            #expect(randomCompressed == 0, "\(label)")
        }
    }

    /// Deferring compression (with room for everything, or none so every worker waits) stores exactly what
    /// compressing with a dictionary known from the start stores: same chunks, same bytes, same codecs.
    @Test func deferredCompressionStoresTheSameAsAKnownDictionary() async throws {
        let fx = try Fixture()
        let tree = try docsTree(fx)
        let files = try TreeWalker.walk(root: tree).entries.filter { $0.kind == .file }
        let dict = try #require(try DictionaryTrainer.train(root: tree, files: files, chunker: .default))
        let known = try await runWorkers(tree, dictionary: PendingDictionary(resolved: dict))
        #expect(known.locations.values.contains { $0.codec == .zstdDictionary })

        for limit in [32 << 20, 0] {
            let trained = Atomic<Int>(0)
            let behind = WorkerGate()
            let slow: @Sendable () throws -> ZstdDictionary? = {
                behind.wait() // until the other worker has deferred a chunk (or, with no room, waits)
                trained.add(1, ordering: .relaxed)
                return dict
            }
            let deferred = try await runWorkers(tree, dictionary: PendingDictionary(), train: slow, deferLimit: limit, events: behind.open)
            #expect(trained.load(ordering: .relaxed) == 1)
            #expect(limit == 0 ? deferred.stats.deferredChunks == 0 : deferred.stats.deferredChunks > 0)
            #expect(digests(deferred.outcomes) == digests(known.outcomes))
            #expect(deferred.stats.newChunks == known.stats.newChunks)
            #expect(deferred.stats.newStoredBytes == known.stats.newStoredBytes)
            #expect(deferred.locations.mapValues { [Int($0.codec.rawValue), $0.storedSize, $0.rawSize] }
                    == known.locations.mapValues { [Int($0.codec.rawValue), $0.storedSize, $0.rawSize] })
            #expect(deferred.locations.values.allSatisfy { $0.codec != .zstdDictionary || $0.dictionary == dict.digest })
        }
    }

    /// A trainer that finds too little text resolves to no dictionary: deferred chunks are compressed without one.
    @Test func noDictionaryAfterAllCompressesWithout() async throws {
        let fx = try Fixture()
        let tree = try docsTree(fx)
        let run = try await runWorkers(tree, dictionary: PendingDictionary(), train: { nil })
        #expect(run.locations.values.contains { $0.codec == .zstd })
        #expect(!run.locations.values.contains { $0.codec == .zstdDictionary })
        let plain = try await runWorkers(tree, dictionary: PendingDictionary(resolved: nil))
        #expect(run.stats.newStoredBytes == plain.stats.newStoredBytes)
    }

    /// A publish that fails before its workers run drops a dictionary that was never resolved.
    @Test func anUnresolvedDictionaryCanBeDropped() {
        var pending: PendingDictionary? = PendingDictionary()
        #expect(pending?.ifResolved == nil)
        pending = nil
        #expect(pending == nil)
    }

    @Test func trainingErrorFailsTheRun() async throws {
        struct Boom: Error {}
        let fx = try Fixture()
        let tree = try docsTree(fx)
        await #expect(throws: Boom.self) { _ = try await runWorkers(tree, dictionary: PendingDictionary(), train: { throw Boom() }) }
    }

    /// End to end: the first publish trains, stores the dictionary before the manifest names it, compresses
    /// every compressible chunk with it, and exports byte for byte; the second version reuses it.
    @Test func firstPublishTrainsStoresAndUsesTheDictionary() async throws {
        let fx = try Fixture()
        let tree = try docsTree(fx)
        var o = PublishOptions()
        o.threads = 2
        let r = try await fx.publish("p", "v1", tree, options: o)
        #expect(r.switched && r.dictionaryTrained)
        let dict = try #require(r.dictionary.flatMap { Digest(hex: $0) })
        #expect(FileManager.default.fileExists(atPath: fx.storeRoot + "/" + StoreLayout.dictionary(dict).rawValue))
        let m = try await fx.repository.openVersion("p", "v1")
        #expect(m.metadata.dictionary == dict)
        var codecs: [Codec: Int] = [:]
        try m.forEachChunk { _, loc in
            codecs[loc.codec, default: 0] += 1
            if loc.codec == .zstdDictionary { #expect(loc.dictionary == dict) }
        }
        #expect(codecs[.zstdDictionary, default: 0] > 0 && codecs[.zstd] == nil)
        #expect(try fx.identical(tree, try await fx.export("p", "v1")))
        let r2 = try await fx.publish("p", "v2", tree, options: o)
        #expect(!r2.dictionaryTrained && r2.dictionary == r.dictionary)
    }
}

/// Holds a trainer (on its worker thread) until another worker reports that it deferred a chunk or
/// waits for the dictionary: the overlap the tests exercise, as an event instead of a sleep.
final class WorkerGate: Sendable {
    private let semaphore = DispatchSemaphore(value: 0)
    private let opened = Atomic<Bool>(false)

    func wait() { semaphore.wait() }

    @Sendable func open(_ event: PublishWorkers.Event) {
        if opened.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged { semaphore.signal() }
    }
}
