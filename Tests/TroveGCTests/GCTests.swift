import Foundation
import Testing
import TroveContent
import TroveGC
import TroveManifest
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting

@Suite struct GCTests {
    /// Two versions sharing some files; version a also has files of its own.
    static let shared: Tree = ["html/theme.css": pseudoRandom(40_000, seed: 1), "html/lib.js": pseudoRandom(30_000, seed: 2)]
    static let onlyA: Tree = ["html/a1.html": pseudoRandom(50_000, seed: 3), "html/a2.html": pseudoRandom(20_000, seed: 4)]
    static let onlyB: Tree = ["html/b1.html": pseudoRandom(45_000, seed: 5)]
    static var treeA: Tree { shared.merging(onlyA) { x, _ in x } }
    static var treeB: Tree { shared.merging(onlyB) { x, _ in x } }

    @Test func deletingAVersionReclaimsExactlyTheChunksOnlyItUsed() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        let a = try await publish(repo, "p", "a", Self.treeA)
        let b = try await publish(repo, "p", "b", Self.treeB)
        let ca = try await chunks(repo, Digest(hex: a.manifest!)!)
        let cb = try await chunks(repo, Digest(hex: b.manifest!)!)
        let onlyA = Set(ca.keys).subtracting(cb.keys)
        #expect(!onlyA.isEmpty)

        // Nothing is garbage yet.
        let idle = try await GarbageCollector(repository: repo, options: gcOptions()).run()
        #expect(idle.packs.deleted == 0 && idle.manifests.deleted == 0 && idle.chunksReclaimed == 0)
        #expect(idle.deadChunksInLivePacks == 0)

        try await VersionAdmin.delete(repo, project: "p", version: "a")

        // A dry run reports the same as the real run and changes nothing.
        let before = try await snapshot(store)
        let dry = try await GarbageCollector(repository: repo, options: gcOptions(dryRun: true)).run()
        #expect(try await snapshot(store) == before)

        let r = try await GarbageCollector(repository: repo, options: gcOptions()).run()
        #expect(dry.packs.deleted == r.packs.deleted && dry.manifests.deleted == r.manifests.deleted)
        #expect(dry.chunksReclaimed == r.chunksReclaimed && dry.deadChunksInLivePacks == r.deadChunksInLivePacks)
        #expect(r.manifests.deleted == 1)
        // Every chunk only a used is either reclaimed with its pack or reported dead inside a live pack.
        #expect(r.chunksReclaimed + r.deadChunksInLivePacks == onlyA.count)
        let deadBytes = onlyA.map { ca[$0]!.storedSize }.reduce(0, +)
        let reclaimedChunkBytes = r.packs.deletedBytes
        #expect(r.deadBytesInLivePacks <= deadBytes && reclaimedChunkBytes >= deadBytes - r.deadBytesInLivePacks)
        #expect(r.liveChunks == cb.count)
        #expect(try await exported(store, manifest: Digest(hex: b.manifest!)!) == Self.treeB)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)

        // Compaction: packs that are mostly dead are rewritten; b stays byte-identical through it.
        var o = gcOptions(compactBelow: 1.0)
        o.packSize = 1 << 20
        let c = try await GarbageCollector(repository: repo, options: o).run()
        #expect(c.compaction.deadChunks == r.deadChunksInLivePacks)
        #expect(r.deadChunksInLivePacks == 0 || (c.compaction.packs > 0 && c.compaction.refsSwitched == 1))
        let bNow = try #require(try await repo.ref("p", "b")).ref.current.manifest
        #expect(try await exported(store, manifest: bNow) == Self.treeB)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)
        // The packs it copied out of and the manifest it replaced go in the same run.
        #expect(c.compaction.oldPacksDeleted == c.compaction.packs && c.packs.deleted == c.compaction.packs)
        #expect(c.compaction.oldManifestsDeleted == c.compaction.manifestsRewritten && c.manifests.deleted == c.compaction.manifestsRewritten)
        #expect(r.chunksReclaimed + c.chunksReclaimed - c.compaction.chunksCopied == onlyA.count)
        #expect(c.deadChunksInLivePacks == r.deadChunksInLivePacks)
        // Then nothing dead is left.
        let d = try await GarbageCollector(repository: repo, options: o).run()
        #expect(d.packs.deleted == 0 && d.manifests.deleted == 0 && d.compaction.packs == 0)
        #expect(d.deadChunksInLivePacks == 0)
        #expect(try await exported(store, manifest: bNow) == Self.treeB)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)
    }

    @Test func graceProtectsYoungObjects() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        try await publish(repo, "p", "a", Self.treeA)
        try await VersionAdmin.delete(repo, project: "p", version: "a")
        let before = try await snapshot(store)
        let r = try await GarbageCollector(repository: repo, options: gcOptions(grace: .seconds(3600))).run()
        #expect(r.packs.deleted == 0 && r.manifests.deleted == 0)
        #expect(r.packs.young > 0 && r.manifests.young == 1)
        #expect(try await snapshot(store).filter { !$0.key.hasPrefix("index/") && !$0.key.hasPrefix("gc/") } == before.filter { !$0.key.hasPrefix("index/") && !$0.key.hasPrefix("gc/") })
        let now = try await GarbageCollector(repository: repo, options: gcOptions(grace: .zero)).run()
        #expect(now.packs.deleted == r.packs.young && now.manifests.deleted == 1)
        #expect(try await store.listAll(prefix: "packs/").isEmpty)
    }

    @Test func packsNamedByAFreshPublishJournalAreKept() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        try await publish(repo, "p", "a", Self.treeA)
        try await VersionAdmin.delete(repo, project: "p", version: "a")
        let packs = try await store.listAll(prefix: "packs/").compactMap { StoreLayout.digest(of: $0.key) }
        #expect(!packs.isEmpty)
        // A killed publish left a journal naming these packs: gc keeps them while it is fresh.
        var journal = PublishJournal(project: "p", version: "a", started: ISO8601DateFormatter().string(from: Date()), tool: "test")
        journal.packs = packs.map { .init(pack: $0.hex, size: 1, trailer: 1) }
        try await store.put(try StoreLayout.journal("p", "a", id: "abc"), journal.encoded())
        let kept = try await GarbageCollector(repository: repo, options: gcOptions(grace: .zero)).run()
        #expect(kept.packs.deleted == 0 && kept.manifests.deleted == 1)
        #expect(try await store.listAll(prefix: "packs/").count == packs.count)
        var expired = gcOptions(grace: .zero)
        expired.journalMaxAge = .zero
        let swept = try await GarbageCollector(repository: repo, options: expired).run()
        #expect(swept.packs.deleted == packs.count)
    }

    @Test func retentionRollbackAndHistory() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        var trees: [Tree] = []
        var digests: [Digest] = []
        for i in 0..<4 {
            let t: Tree = ["index.html": pseudoRandom(20_000, seed: 100 + UInt64(i)), "common.css": pseudoRandom(10_000, seed: 7)]
            trees.append(t)
            digests.append(Digest(hex: try await publish(repo, "p", "latest", t).manifest!)!)
        }
        // Roll back to the previous build, then forward again by digest prefix.
        let back = try await VersionAdmin.rollback(repo, project: "p", version: "latest")
        #expect(back.to.manifest == digests[2] && back.from.manifest == digests[3])
        var ref = try #require(try await repo.ref("p", "latest")).ref
        #expect(ref.current.manifest == digests[2] && ref.history.first?.manifest == digests[3])
        #expect(try await exported(store, manifest: ref.current.manifest) == trees[2])
        try await VersionAdmin.rollback(repo, project: "p", version: "latest", to: String(digests[3].hex.prefix(10)))
        ref = try #require(try await repo.ref("p", "latest")).ref
        #expect(ref.current.manifest == digests[3])

        // Keep 2 builds: current + one previous; the others are dropped from history and collected.
        let r = try await GarbageCollector(repository: repo, options: gcOptions(keep: 2)).run()
        #expect(r.buildsDropped == ref.history.count - 1)
        ref = try #require(try await repo.ref("p", "latest")).ref
        #expect(ref.history.count == 1)
        #expect(r.manifests.deleted == 2)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)
        for b in [ref.current] + ref.history {
            let i = digests.firstIndex(of: b.manifest)!
            #expect(try await exported(store, manifest: b.manifest) == trees[i])
        }
        // A dropped build can no longer be rolled back to.
        let dropped = digests.first { d in d != ref.current.manifest && !ref.history.contains { $0.manifest == d } }!
        await #expect(throws: AdminError.self) {
            try await VersionAdmin.rollback(repo, project: "p", version: "latest", to: dropped.hex)
        }
        // keep_within keeps young builds regardless of count.
        let young = RetentionPolicy(keepBuilds: 1, keepWithin: .seconds(3600))
        var fresh = ref
        fresh.history = [.init(manifest: dropped, published: ISO8601DateFormatter().string(from: Date())),
                         .init(manifest: dropped, published: "2001-01-01T00:00:00Z")]
        #expect(young.retained(fresh).count == 1)
    }

    @Test func verifyNamesMissingAndCorruptBlobs() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        let a = try await publish(repo, "p", "a", Self.treeA)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)
        let m = try await repo.manifest(Digest(hex: a.manifest!)!)
        let packs = try m.referencedObjects().packs
        // Corrupt one pack's payload: shallow verify cannot see it, deep does.
        store.tamper(StoreLayout.pack(packs[0])) { $0[10] ^= 0xff }
        #expect(try await Verifier(repository: repo).run().ok)
        let deep = try await Verifier(repository: repo, deep: true).run()
        #expect(deep.problems.map(\.kind) == [.corrupt])
        #expect(deep.problems[0].object.contains(packs[0].hex) && deep.problems[0].usedBy == ["p/a"])
        // A missing pack is found without --deep.
        try await store.delete([StoreLayout.pack(packs.last!)])
        let shallow = try await Verifier(repository: repo).run()
        #expect(shallow.problems.contains { $0.kind == .missing && $0.object.contains(packs.last!.hex) })
        // And gc refuses to collect a store whose live blobs are missing.
        await #expect(throws: GCError.self) { try await GarbageCollector(repository: repo, options: gcOptions()).run() }
    }

    /// Trove lays out manifest files itself, so deep verify also asks SQLite whether each one is sound:
    /// a manifest whose b-tree is damaged (as a writer bug would leave it) is named even though it
    /// hashes to its name and opens.
    @Test func deepVerifyRunsSQLitesIntegrityCheckOnManifests() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        let a = try await publish(repo, "p", "a", Self.treeA)
        let good = try #require(Digest(hex: a.manifest!))
        var sqlite = try ManifestCodec.decode(try await store.get(StoreLayout.manifest(good)), digest: good, name: "m")
        let path = tempDir("integrity").appendingPathComponent("m.sqlite").path
        try Data(sqlite).write(to: URL(fileURLWithPath: path))
        let db = try SQLiteDatabase(path: path, mode: .readOnly)
        let q = try db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = 'file_chunks'")
        #expect(try q.step())
        let root = q.int(0)
        #expect(root > 1)
        // The root page claims 64 more cells than it holds.
        sqlite[(root - 1) * 4096 + 3] &+= 64
        let bad = Digest.sha256(sqlite)
        try await store.put(StoreLayout.manifest(bad), try ManifestCodec.encode(sqlite))
        _ = try await repo.switchVersion("p", "a", to: bad, published: ISO8601DateFormatter().string(from: Date()))

        #expect(try await repo.manifest(bad).metadata.project == "p") // it opens and reads
        let deep = try await Verifier(repository: repo, deep: true).run()
        let problem = try #require(deep.problems.first { $0.object.contains(bad.hex) })
        #expect(problem.kind == .corrupt && problem.detail.contains("SQLite integrity check"), "\(problem)")
        #expect(problem.usedBy == ["p/a"])
        #expect(!deep.problems.contains { $0.object.contains(good.hex) })
    }

    @Test func onlyOneGCAtATime() async throws {
        let store = MemoryBlobStore()
        let lock = try await GCLock.acquire(store, ttl: .seconds(60))
        await #expect(throws: GCError.self) { try await GCLock.acquire(store, ttl: .seconds(60)) }
        await #expect(throws: GCError.self) { try await GarbageCollector(repository: repository(store), options: gcOptions()).run() }
        await lock.release()
        let again = try await GCLock.acquire(store, ttl: .milliseconds(200))
        // An expired lock (its holder stopped renewing) is taken over; the old holder then stops.
        let stale = GCLockDocument(holder: LeaseHolder(id: "x", host: "elsewhere", pid: 1, what: "gc"), acquired: Date(),
                                   expires: Date().addingTimeInterval(-1), phase: .sweeping)
        try await store.put(StoreLayout.gcLock, stale.encoded())
        let taken = try await GCLock.acquire(store, ttl: .seconds(60))
        await #expect(throws: GCError.self) { try await again.renew() }
        await taken.release()
        // Released by writing it back expired: it carries when the dead holder's sweep may last have
        // deleted anything (its expiry), for publishes to compare with their own start.
        let released = try GCLockDocument.decode(try await store.get(StoreLayout.gcLock))
        #expect(!released.isLive() && released.phase == .marking)
        let carried = try #require(released.sweepEnded)
        #expect(abs(carried.timeIntervalSince(stale.expires)) < 0.002 && released.sweptSince(stale.expires.addingTimeInterval(30)))
        #expect(!released.sweptSince(stale.expires.addingTimeInterval(3600)))
        await (try await GCLock.acquire(store, ttl: .seconds(60))).release()
    }

    @Test func publishWaitsWhileAGCSweeps() async throws {
        let store = MemoryBlobStore()
        // Every read of gc/lock by the publish, as an event: the second one proves it saw the sweep,
        // withdrew its lease and came back to look again (no time-based guess that it has started).
        let (lockReads, reads) = AsyncStream.makeStream(of: Void.self)
        let repo = repository(HookedStore(store) { _, op in if op == "get \(StoreLayout.gcLock)" { reads.yield() } })
        let lock = try await GCLock.acquire(store, ttl: .seconds(60))
        try await lock.renew(phase: .sweeping)
        let p = Task { try await publish(repo, "p", "a", Self.treeA) }
        var seen = 0
        for await _ in lockReads { seen += 1; if seen == 2 { break } }
        #expect(seen == 2)
        // The publish has written nothing but (withdrawn) leases while the sweep is announced.
        #expect(try await store.listAll(prefix: "packs/").isEmpty)
        #expect(try await store.listAll(prefix: "manifests/").isEmpty)
        try await lock.renew(phase: .marking)
        #expect(try await p.value.switched)
        await lock.release()
    }
}

/// Issue 11: `trove delete` of one of three versions that share content, then one `gc --grace 0s`
/// (compaction at its default 0.5): the store ends smaller, and a second run has nothing left to do.
@Suite struct DeleteThenGCTests {
    /// Every version has the same stylesheets and three pages of its own per stylesheet, each page a
    /// little larger than its stylesheet (publish stores files largest first), so each of v1's packs
    /// holds some shared content (still live) and mostly v1-only content (dead once v1 goes).
    static func tree(_ v: UInt64) -> Tree {
        var t: Tree = [:]
        for i in 0..<8 {
            let size = 9_000 - 1_000 * i
            t["p\(i)/common.css"] = pseudoRandom(size, seed: 500 + UInt64(i))
            for j in 1...3 { t["p\(i)/page\(j).html"] = pseudoRandom(size + 100 * j, seed: 1000 * v + 10 * UInt64(i) + UInt64(j)) }
        }
        return t
    }

    @Test func oneRunAfterADeleteReclaimsAndASecondFindsNothing() async throws {
        let store = MemoryBlobStore()
        let repo = repository(store)
        for v in 1...3 { try await publish(repo, "p", "v\(v)", Self.tree(UInt64(v))) }
        try await VersionAdmin.delete(repo, project: "p", version: "v1")

        var o = gcOptions(grace: .zero, compactBelow: 0.5)
        o.dryRun = true
        let dry = try await GarbageCollector(repository: repo, options: o).run()
        o.dryRun = false
        let before = try await storedBytes(store)
        let first = try await GarbageCollector(repository: repo, options: o).run()
        let after = try await storedBytes(store)
        let afterBlobs = try await storedBytes(store, prefixes: ["packs/", "manifests/", "dicts/", "index/"])
        print("delete-then-gc: \(before.objects) objects, \(before.bytes) bytes -> \(after.objects) objects, \(after.bytes) bytes; "
              + "deleted \(first.manifests.deleted) manifests + \(first.packs.deleted) packs (\(first.compaction.oldPacksDeleted) compacted), "
              + "\(first.compaction.newPacks) new packs, \(first.compaction.manifestsRewritten) manifests rewritten")
        #expect(first.compaction.packs > 0 && first.compaction.refsSwitched == 2)
        #expect(first.compaction.oldPacksDeleted == first.compaction.packs)
        #expect(first.compaction.oldManifestsDeleted == first.compaction.manifestsRewritten)
        #expect(after.bytes < before.bytes, "store grew: \(before) -> \(after)")
        #expect(first.reclaimedBytes > 0 && !first.sweepDeferred)
        // The dry run predicted exactly this.
        #expect(dry.manifests.deleted == first.manifests.deleted && dry.packs.deleted == first.packs.deleted)
        #expect(dry.packs.deletedBytes == first.packs.deletedBytes && dry.chunksReclaimed == first.chunksReclaimed)
        #expect(dry.compaction.oldPacksDeleted == first.compaction.oldPacksDeleted)

        let second = try await GarbageCollector(repository: repo, options: o).run()
        #expect(second.manifests.deleted == 0 && second.packs.deleted == 0 && second.dictionaries.deleted == 0)
        #expect(second.compaction.packs == 0 && second.chunksReclaimed == 0)
        // Blobs only: gc/lock is rewritten by every run (its times are JSON numbers of varying length).
        let blobs = ["packs/", "manifests/", "dicts/", "index/"]
        #expect(try await storedBytes(store, prefixes: blobs).bytes <= afterBlobs.bytes)

        for v in 2...3 {
            let ref = try #require(try await repo.ref("p", "v\(v)"))
            #expect(try await exported(store, manifest: ref.ref.current.manifest) == Self.tree(UInt64(v)))
        }
        #expect(try await Verifier(repository: repo).run().ok)
        #expect(try await Verifier(repository: repo, deep: true).run().ok)
    }
}
