import Foundation
import Testing
import TroveContent
import TroveGC
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting

/// Issue 14: gc's report keeps its candidates apart from its deletions (a deferred sweep reports them
/// as pending and deletes nothing; the next run deletes exactly those), and an alias document's
/// `"manifest"` pin, read by `AliasRef`, keeps its build live.
@Suite struct GCReportPhasesTests {
    static func tree(_ v: UInt64) -> Tree {
        var t: Tree = [:]
        for i in 0..<4 { t["page\(i).html"] = pseudoRandom(6_000 + 500 * i, seed: 100 * v + UInt64(i)) }
        return t
    }

    @Test func aDeferredSweepReportsCandidatesAsPendingAndTheNextRunDeletesThem() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        let gone = try await publish(repo, "p", "old", Self.tree(1))
        try await publish(repo, "p", "new", Self.tree(2))
        try await VersionAdmin.delete(repo, project: "p", version: "old")
        let oldManifest = try #require(gone.manifest.flatMap { Digest(hex: $0) })

        var o = gcOptions()
        o.dryRun = true
        let dry = try await GarbageCollector(repository: repo, options: o).run()
        #expect(dry.manifests.deleted == 1 && dry.packs.deleted > 0)
        #expect(dry.manifests.pending == 0 && dry.packs.pending == 0)

        // A publish in progress (its lease live) holds the sweep back past `leaseWait`.
        let holder = LeaseHolder.current("a publish in progress")
        let lease = PublishLeaseDocument(holder: holder, started: Date(), expires: Date().addingTimeInterval(600))
        try await store.put(StoreLayout.publishLease(holder.id), lease.encoded())
        o.dryRun = false
        o.leaseWait = .zero
        let deferred = try await GarbageCollector(repository: repo, options: o).run()
        #expect(deferred.sweepDeferred)
        #expect(deferred.manifests.deleted == 0 && deferred.packs.deleted == 0 && deferred.dictionaries.deleted == 0)
        #expect(deferred.reclaimedBytes == 0 && deferred.chunksReclaimed == 0)
        #expect(deferred.manifests.pending == dry.manifests.deleted && deferred.manifests.pendingBytes == dry.manifests.deletedBytes)
        #expect(deferred.packs.pending == dry.packs.deleted && deferred.packs.pendingBytes == dry.packs.deletedBytes)
        #expect(deferred.manifests.live == dry.manifests.live && deferred.packs.live == dry.packs.live)
        #expect(try await store.head(StoreLayout.manifest(oldManifest)) != nil)

        // The publish ends: the next run deletes what was pending, and counts only that.
        try await store.delete([StoreLayout.publishLease(holder.id)])
        let swept = try await GarbageCollector(repository: repo, options: o).run()
        #expect(!swept.sweepDeferred)
        #expect(swept.manifests.deleted == deferred.manifests.pending && swept.packs.deleted == deferred.packs.pending)
        #expect(swept.packs.deletedBytes == deferred.packs.pendingBytes)
        #expect(swept.manifests.pending == 0 && swept.packs.pending == 0)
        #expect(swept.chunksReclaimed == dry.chunksReclaimed)
        #expect(try await store.head(StoreLayout.manifest(oldManifest)) == nil)
    }

    @Test func anAliasThatPinsAManifestKeepsItsBuild() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        let pinned = try #require(try await publish(repo, "p", "v1", Self.tree(1)).manifest.flatMap { Digest(hex: $0) })
        let unpinned = try #require(try await publish(repo, "p", "v2", Self.tree(2)).manifest.flatMap { Digest(hex: $0) })
        try await publish(repo, "p", "v3", Self.tree(3))
        try await VersionAdmin.delete(repo, project: "p", version: "v1")
        try await VersionAdmin.delete(repo, project: "p", version: "v2")
        // A full alias document with a pin, and a bare one: gc honours both (it never guesses in favour of deleting).
        var alias = AliasRef(project: "p", alias: "archived", version: "v3", updated: "2026-12-04T00:00:00Z")
        var doc = try #require(try JSONSerialization.jsonObject(with: Data(alias.encoded())) as? [String: Any])
        doc["manifest"] = pinned.hex
        try await store.put(try StoreLayout.aliasRef("p", "archived"), Array(try JSONSerialization.data(withJSONObject: doc)))
        try await store.put(try StoreLayout.aliasRef("p", "bare"), Array("{\"manifest\": \"\(pinned.hex)\"}".utf8))
        alias.alias = "plain"
        try await store.put(try StoreLayout.aliasRef("p", "plain"), alias.encoded())
        #expect(AliasRef.pinnedManifest(alias.encoded()) == nil)

        let report = try await GarbageCollector(repository: repo, options: gcOptions()).run()
        #expect(report.manifests.deleted == 1)
        #expect(try await store.head(StoreLayout.manifest(pinned)) != nil)
        #expect(try await store.head(StoreLayout.manifest(unpinned)) == nil)
        #expect(try await exported(store, manifest: pinned) == Self.tree(1))
    }

    @Test func everyKeyIsBuiltByStoreLayoutAndParsedBack() throws {
        #expect(try StoreLayout.projectPrefix("docs") == "refs/docs/")
        #expect(try StoreLayout.versionsPrefix("docs") == "refs/docs/versions/")
        #expect(try StoreLayout.aliasesPrefix("docs") == "refs/docs/aliases/")
        #expect(try StoreLayout.journalPrefix("docs", "v1") == "refs/docs/journals/v1/")
        #expect(StoreLayout.publishLease("abc").rawValue == "gc/leases/abc")
        #expect(StoreLayout.gcLock.rawValue == "gc/lock")
        let d = Digest.sha256(Array("x".utf8))
        #expect(StoreLayout.pack(d).rawValue == "packs/\(d.hex.prefix(2))/\(d.hex)")
        #expect(StoreLayout.manifest(d).rawValue == "manifests/\(d.hex.prefix(2))/\(d.hex)")
        #expect(StoreLayout.dictionary(d).rawValue == "dicts/\(d.hex)")
        #expect(StoreLayout.digest(of: StoreLayout.pack(d)) == d)
        #expect(StoreLayout.refEntry(try StoreLayout.versionRef("docs", "v1")) == .version(project: "docs", version: "v1"))
        #expect(StoreLayout.refEntry(try StoreLayout.aliasRef("docs", "stable")) == .alias(project: "docs", alias: "stable"))
        #expect(StoreLayout.refEntry(try StoreLayout.journal("docs", "v1", id: "ab12")) == .journal(project: "docs", version: "v1", id: "ab12"))
        #expect(StoreLayout.refEntry(StoreLayout.gcLock) == nil)
        #expect(throws: NameError.self) { try StoreLayout.versionsPrefix("../x") }
        #expect(throws: NameError.self) { try StoreLayout.versionRef("docs", "a/b") }
    }
}
