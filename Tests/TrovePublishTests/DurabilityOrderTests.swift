import Foundation
import Synchronization
import Testing
import TroveContent
import TroveRepository
import TroveStorage
@testable import TrovePublish
import TroveTesting

/// Records the order in which writes start and finish (`store` is the store to publish to); pack
/// uploads are slow (so the manifest is built while they run) and, with `failPacksAfter`, the packs
/// after that many fail.
final class OrderRecordingStore: Sendable {
    let base: any BlobStore
    let failPacksAfter: Int?
    let events = Mutex<[String]>([])
    private let packs = Mutex(0)

    init(_ base: any BlobStore, failPacksAfter: Int? = nil) {
        self.base = base
        self.failPacksAfter = failPacksAfter
    }

    var store: HookedStore {
        HookedStore(base, put: { [self] key, write in
            let k = key.rawValue
            if k.hasPrefix(StoreLayout.packsPrefix) {
                let n = packs.withLock { $0 += 1; return $0 }
                try await Task.sleep(for: .milliseconds(150))
                if let limit = failPacksAfter, n > limit { throw BlobStoreError.permanent("injected: pack upload fails") }
                let tag = try await write()
                events.withLock { $0.append("pack done") }
                return tag
            }
            if k.hasPrefix(StoreLayout.manifestsPrefix) { events.withLock { $0.append("manifest start") } }
            if case .version? = StoreLayout.refEntry(key) { events.withLock { $0.append("ref start") } }
            return try await write()
        })
    }
}

/// The manifest is built and stored while the last packs upload; the ref is switched only once every
/// pack and the manifest are durable.
@Suite struct DurabilityOrderTests {
    func tree(_ fx: Fixture) throws -> String {
        let t = fx.dir("tree")
        for i in 0..<30 { try fx.write(t, "html/p\(i).html", page(i, date: "2026-01-01")) }
        try fx.write(t, "pdf/doc.pdf", pseudoRandom(1 << 20, seed: 11))
        return t
    }

    var options: PublishOptions {
        var o = PublishOptions()
        o.packSize = 256 << 10
        o.threads = 2
        return o
    }

    @Test func packsAndTheManifestAreDurableBeforeTheRef() async throws {
        let fx = try Fixture()
        let t = try tree(fx)
        let store = OrderRecordingStore(fx.metered)
        let repo = Repository(store: store.store, cacheDirectory: fx.root.appendingPathComponent("cache-order"))
        let r = try await Publisher(repository: repo, options: options).publish(project: "p", version: "v", from: t)
        #expect(r.switched && r.packs > 2)
        let events = store.events.withLock { $0 }
        let manifest = try #require(events.firstIndex(of: "manifest start"))
        let ref = try #require(events.firstIndex(of: "ref start"))
        #expect(events.filter { $0 == "pack done" }.count == r.packs)
        #expect(events.lastIndex(of: "pack done")! < ref && manifest < ref)
        #expect(try fx.identical(t, try await fx.export("p", "v")))
        // The manifest's SQLite file went into the cache under its digest: no scratch file left behind.
        let cached = try FileManager.default.contentsOfDirectory(atPath: fx.root.appendingPathComponent("cache-order/manifests").path)
        #expect(cached == [r.manifest! + ".sqlite"])
    }

    @Test func aFailedPackUploadSwitchesNothing() async throws {
        let fx = try Fixture()
        let t = try tree(fx)
        let store = OrderRecordingStore(fx.metered, failPacksAfter: 2)
        let repo = Repository(store: store.store, cacheDirectory: fx.root.appendingPathComponent("cache-fail"))
        await #expect(throws: BlobStoreError.self) {
            _ = try await Publisher(repository: repo, options: options).publish(project: "p", version: "v", from: t)
        }
        let events = store.events.withLock { $0 }
        #expect(!events.contains("ref start"))
        #expect(try await fx.repository.ref("p", "v") == nil)
        // A manifest stored while the packs uploaded is named by no ref (gc collects it); no scratch file is left.
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: fx.root.appendingPathComponent("cache-fail/manifests").path)) ?? []
        #expect(cached.allSatisfy { !$0.hasPrefix("build-") }, "\(cached)")
    }
}
