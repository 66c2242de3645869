import Foundation
import Synchronization
import Testing
import TroveContent
import TroveGC
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting

/// Pauses a publish before each of its store operations in turn and, while it is paused, deletes the
/// version whose blobs it is reusing and runs a gc (grace 0) that itself pauses at each step of its
/// protocol; then resumes both in either order. Every committed version must still export
/// byte-identically, before and after a final gc.
@Suite struct InterleavingTests {
    static let a: Tree = ["html/a.html": pseudoRandom(30_000, seed: 11), "html/b.css": pseudoRandom(20_000, seed: 12)]
    static let b: Tree = ["html/other.html": pseudoRandom(25_000, seed: 13)]
    /// Variant 2: b shares a's stylesheet, so once a is deleted the pack holding the end of a.html and
    /// most of b.css is mostly dead and gets compacted; the racing publish reuses it.
    static let bSharing: Tree = b.merging(["html/b.css": pseudoRandom(20_000, seed: 12)]) { x, _ in x }
    /// Variant 1: the racing publish reuses a's chunks (dedup against a's manifest) and adds its own.
    static let superset: Tree = a.merging(["html/new.html": pseudoRandom(15_000, seed: 14)]) { x, _ in x }

    enum Order: CaseIterable { case publishFirst, gcFirst }

    /// Variant 0: superset of a (reuses a's packs). Variant 1: exactly a's files (when the publish
    /// reads no index it regenerates byte-identical packs, the other dangerous case). Variant 2: as 0,
    /// but b shares a pack with a and gc compacts it: the racing publish may reuse the pack compaction
    /// replaces, and the gc deletes replaced packs and manifests in the same run. Variant 2 pauses gc
    /// only at the steps from marking to the first deletion (compaction's neighbourhood).
    struct Variant {
        var racing: Tree
        var b: Tree
        var compactBelow: Double
        var steps: [GCStep]

        init(_ n: Int) {
            racing = n == 1 ? InterleavingTests.a : InterleavingTests.superset
            b = n == 2 ? InterleavingTests.bSharing : InterleavingTests.b
            compactBelow = n == 2 ? 0.99 : 0
            steps = n == 2 ? [.marked, .compacted, .indexed, .sweepAnnounced, .leasesDrained, .remarked, .deleted(1)] : GCStep.sequence
        }
    }

    /// Counts the publish's store operations once, so the matrix covers each of them.
    func operationCount(_ v: Variant) async throws -> Int {
        let base = MemoryBlobStore()
        try await setUp(base, v)
        let n = Atomic<Int>(0)
        let hooked = HookedStore(base) { i, _ in n.store(i + 1, ordering: .relaxed) }
        try await publish(repository(hooked), "p", "c", v.racing, options: publishOptions(threads: 1))
        return n.load(ordering: .relaxed)
    }

    func setUp(_ store: any BlobStore, _ v: Variant) async throws {
        let repo = repository(store)
        try await publish(repo, "p", "a", Self.a, options: publishOptions(threads: 1))
        try await publish(repo, "p", "b", v.b, options: publishOptions(threads: 1))
    }

    @Test(arguments: [0, 1, 2])
    func publishAndGCInterleavedAtEveryStep(variant n: Int) async throws {
        let v = Variant(n)
        let racing = v.racing
        let ops = try await operationCount(v)
        #expect(ops > 8)
        var combos = 0, committed = 0, deferred = 0, deletedDuring = 0, compacted = 0, replacedDeleted = 0, replacedKept = 0
        for k in 0..<ops {
            for step in v.steps {
                for order in Order.allCases {
                    let store = MemoryBlobStore()
                    try await setUp(store, v)
                    let admin = repository(store)

                    let publishPause = PausePoint()
                    let hooked = HookedStore(store) { i, what in if i == k { await publishPause.hit("op \(i): \(what)") } }
                    let publishing = Task {
                        defer { publishPause.finished() }
                        return try await publish(repository(hooked), "p", "c", racing, options: publishOptions(threads: 1))
                    }
                    let at = await publishPause.reached()
                    // The version whose blobs the publish may be reusing goes away now.
                    try await VersionAdmin.delete(admin, project: "p", version: "a")

                    let gcPause = PausePoint()
                    var o = gcOptions(compactBelow: v.compactBelow)
                    o.leaseWait = .milliseconds(50)
                    o.hooks.step = { s in if s == step { await gcPause.hit("\(s)") } }
                    let collecting = Task {
                        defer { gcPause.finished() }
                        return try await GarbageCollector(repository: repository(store), options: o).run()
                    }
                    _ = await gcPause.reached()

                    let published: PublishReport?
                    let report: GCReport
                    switch order {
                    case .publishFirst:
                        publishPause.resume()
                        gcPause.resume()
                        published = try? await publishing.value
                        report = try await collecting.value
                    case .gcFirst:
                        gcPause.resume()
                        report = try await collecting.value
                        publishPause.resume()
                        published = try? await publishing.value
                    }
                    combos += 1
                    if report.sweepDeferred { deferred += 1 }
                    if report.packs.deleted > 0 { deletedDuring += 1 }
                    if report.compaction.packs > 0 {
                        compacted += 1
                        if report.compaction.oldPacksDeleted > 0 { replacedDeleted += 1 }
                        if !report.sweepDeferred && report.compaction.oldPacksDeleted < report.compaction.packs { replacedKept += 1 }
                    }
                    let context = "publish paused at \(at), gc at \(step), \(order)"

                    // What is committed must export byte-identically now, and after a final full gc.
                    let c = try await admin.ref("p", "c")
                    #expect(published?.switched == true, "publish failed: \(context)")
                    if let c { committed += 1; #expect(c.ref.current.manifest.hex == published?.manifest, "\(context)") }
                    for _ in 0..<2 {
                        // Re-read: a gc that compacts switches c's ref to a rewritten manifest.
                        if c != nil {
                            let now = try #require(try await admin.ref("p", "c"), "\(context)")
                            #expect(try await exported(store, manifest: now.ref.current.manifest) == racing, "\(context)")
                        }
                        let b = try #require(try await admin.ref("p", "b"))
                        #expect(try await exported(store, manifest: b.ref.current.manifest) == v.b, "\(context)")
                        let verified = try await Verifier(repository: repository(store)).run()
                        #expect(verified.ok, "\(context): \(verified.problems)")
                        _ = try await GarbageCollector(repository: repository(store), options: gcOptions(compactBelow: v.compactBelow)).run()
                    }
                    // Nothing of a's is left that c does not use.
                    let final = try await GarbageCollector(repository: repository(store), options: gcOptions(compactBelow: v.compactBelow)).run()
                    #expect(final.packs.deleted == 0 && final.manifests.deleted == 0 && final.compaction.packs == 0, "\(context)")
                }
            }
        }
        #expect(combos == ops * v.steps.count * 2)
        #expect(committed == combos)
        // The matrix did exercise both outcomes: sweeps that waited out a publish, and sweeps that deleted.
        #expect(deferred > 0 && deletedDuring > 0)
        if v.compactBelow > 0 {
            // Compaction ran, its replaced packs went in the same run, and some were kept because the
            // racing publish committed a manifest still naming them.
            print("interleaving variant \(n): \(combos) combinations, \(compacted) compacted, replaced packs deleted in \(replacedDeleted), kept for a live user in \(replacedKept), deferred \(deferred)")
            #expect(compacted > 0 && replacedDeleted > 0)
        }
    }
}
