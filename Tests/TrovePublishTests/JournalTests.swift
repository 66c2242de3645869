import Foundation
import Synchronization
import Testing
import TroveContent
import TroveRepository
import TroveStorage
@testable import TrovePublish
import TroveTesting

/// Passes everything through, except that pack uploads fail once `allowedPacks` have been stored.
func failingPackStore(_ base: any BlobStore, allowedPacks: Int) -> HookedStore {
    final class Count: Sendable { let stored = Mutex(0) }
    let count = Count()
    return HookedStore(base, put: { key, write in
        if key.rawValue.hasPrefix(StoreLayout.packsPrefix) {
            let ok = count.stored.withLock { n in
                guard n < allowedPacks else { return false }
                n += 1
                return true
            }
            if !ok { throw BlobStoreError.permanent("injected: pack uploads fail") }
        }
        return try await write()
    })
}

@Suite struct JournalTests {
    func tree(_ fx: Fixture) throws -> String {
        let tree = fx.dir("tree")
        for i in 0..<60 { try fx.write(tree, "html/p\(i).html", page(i, date: "2026-01-01")) }
        try fx.write(tree, "pdf/doc.pdf", pseudoRandom(2 << 20, seed: 3))
        return tree
    }

    var options: PublishOptions {
        var o = PublishOptions()
        o.packSize = 64 << 10
        o.uploads = 1
        o.buildTime = Date(timeIntervalSince1970: 1_700_000_000)
        return o
    }

    @Test func failedPublishLeavesAJournalAndTheRerunReusesItsPacks() async throws {
        let fx = try Fixture()
        let tree = try tree(fx)
        let failing = Repository(store: failingPackStore(fx.metered, allowedPacks: 20), cacheDirectory: fx.root.appendingPathComponent("cache-1"))
        await #expect(throws: BlobStoreError.self) {
            _ = try await Publisher(repository: failing, options: options).publish(project: "p", version: "v", from: tree)
        }
        #expect(try await fx.repository.ref("p", "v") == nil)
        let journals = try await fx.metered.listAll(prefix: try StoreLayout.journalPrefix("p", "v"))
        try #require(journals.count == 1)
        let j = try JSONDecoder().decode(PublishJournal.self, from: Data(try await fx.metered.get(journals[0].key)))
        #expect(j.project == "p" && j.version == "v" && j.packs.count == 20)

        let before = fx.metered.snapshot
        let r = try await fx.publish("p", "v", tree, options: options)
        let puts = fx.metered.snapshot.puts - before.puts
        #expect(r.switched && r.resumedPacks == 20 && r.reusedChunks > 0)
        // 20 of the packs are not uploaded again (puts = new packs + journal writes + manifest + ref + gc lease
        // + the dictionary, trained again to the same bytes and stored with one PUT, no HEAD first).
        let cold = try await Fixture().publish("p", "v", tree, options: options)
        #expect(r.packs < cold.packs && r.newChunks < cold.newChunks, "\(r.packs) packs vs cold \(cold.packs)")
        #expect(puts <= r.packs + r.packs / 16 + 4)
        #expect(try await fx.metered.listAll(prefix: try StoreLayout.journalPrefix("p", "v")).isEmpty, "journal not deleted after the switch")
        #expect(try fx.identical(tree, try await fx.export("p", "v")))
    }

    @Test func journalsOfOtherVersionsAndStaleOnesAreNotUsed() async throws {
        let fx = try Fixture()
        let tree = try tree(fx)
        let failing = Repository(store: failingPackStore(fx.metered, allowedPacks: 10), cacheDirectory: fx.root.appendingPathComponent("cache-1"))
        _ = try? await Publisher(repository: failing, options: options).publish(project: "p", version: "other", from: tree)
        #expect(try await fx.metered.listAll(prefix: try StoreLayout.journalPrefix("p", "other")).count == 1)
        let r = try await fx.publish("p", "v", tree, options: options)
        #expect(r.resumedPacks == 0)
        // A stale journal (started long ago) is ignored and, after the switch, removed.
        let key = try StoreLayout.journal("p", "v2", id: "0123456789abcdef")
        var stale = PublishJournal(project: "p", version: "v2", started: "2020-01-01T00:00:00Z", tool: "test")
        stale.packs = [.init(pack: String(repeating: "ab", count: 32), size: 1000, trailer: 100)]
        _ = try await fx.metered.put(key, stale.encoded())
        let r2 = try await fx.publish("p", "v2", tree, options: options)
        #expect(r2.switched && r2.resumedPacks == 0)
        #expect(try await fx.metered.head(key) == nil)
        // A journal naming a pack that is gone is skipped, not an error.
        let key3 = try StoreLayout.journal("p", "v3", id: "00000000000000ff")
        var gone = PublishJournal(project: "p", version: "v3", started: ISO8601DateFormatter().string(from: Date()), tool: "test")
        gone.packs = [.init(pack: String(repeating: "cd", count: 32), size: 1000, trailer: 100)]
        _ = try await fx.metered.put(key3, gone.encoded())
        let r3 = try await fx.publish("p", "v3", tree, options: options)
        #expect(r3.switched && r3.resumedPacks == 0)
    }
}
