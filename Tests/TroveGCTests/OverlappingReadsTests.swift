import Foundation
import Synchronization
import Testing
import TroveContent
import TroveGC
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting

/// A publish reads its baseline (refs, manifests) at the same time as `gc/lock`, once its lease is
/// written. A sweep that listed the leases just before that lease landed can delete, while those reads
/// are in flight, old packs that a build the publish just read about names: here x, committed after
/// the gc's mark by a publish that reused the packs of a version deleted before it, and deleted again
/// before the gc's re-mark. The lock then records that a sweep ended after the lease was written, and
/// the publish reads its baseline again (docs/gc.md, "The protocol").
@Suite struct OverlappingReadsTests {
    static let base: Tree = ["html/base.html": pseudoRandom(10_000, seed: 21)]
    static let a: Tree = ["html/x.html": pseudoRandom(30_000, seed: 22), "html/x.css": pseudoRandom(20_000, seed: 23)]
    static let c: Tree = a.merging(["html/c.html": pseudoRandom(8_000, seed: 24)]) { x, _ in x }

    /// `checkSweeps` false turns the publish's check off (a clock skew allowance of minus one hour),
    /// to show the interleaving really does hand the publish a stale baseline without it: the publish
    /// then reuses packs the sweep deleted, and only its pack probes (a HEAD per reused pack before the
    /// manifest is stored) catch that and store the chunks again.
    @Test(arguments: [true, false])
    func aSweepDuringThePublishsFirstReadsMakesItReadAgain(checkSweeps: Bool) async throws {
        let store = MemoryBlobStore()
        let admin = repository(store)
        try await publish(admin, "p", "base", Self.base)
        try await publish(admin, "p", "a", Self.a)

        // x reuses a's packs (read while a was live) and is held before it stores its manifest.
        let beforeManifest = PausePoint()
        let xStore = HookedStore(store) { _, what in if what.hasPrefix("put manifests/") { await beforeManifest.hit(what) } }
        let committingX = Task { try await publish(repository(xStore), "p", "x", Self.a) }
        _ = await beforeManifest.reached()
        try await VersionAdmin.delete(admin, project: "p", version: "a")

        // gc marks without a (its packs are old and unmarked: candidates), x commits, and the gc announces
        // its sweep and lists the leases once x's is gone.
        let marked = PausePoint(), drained = PausePoint()
        var o = gcOptions()
        o.hooks.step = { s in
            if s == .marked { await marked.hit("marked") }
            if s == .leasesDrained { await drained.hit("leases drained") }
        }
        let collecting = Task {
            defer { marked.finished(); drained.finished() }
            return try await GarbageCollector(repository: repository(store), options: o).run()
        }
        #expect(await marked.reached() == "marked")
        beforeManifest.resume()
        #expect(try await committingX.value.switched)
        marked.resume()
        #expect(await drained.reached() == "leases drained")

        // The publish's lease lands after the gc's listing; its baseline sees x and reads x's manifest
        // while its read of gc/lock is held back.
        let lockGate = PausePoint()
        let (completed, completions) = AsyncStream.makeStream(of: ObjectKey.self)
        let gated = HookedStore(store, read: { key, read in
            if key == StoreLayout.gcLock { await lockGate.hit("read \(key)") }
            defer { completions.yield(key) }
            return try await read()
        })
        var options = publishOptions()
        if !checkSweeps { options.lease.clockSkew = .seconds(-3600) }
        let publishing = Task { try await publish(repository(gated), "p", "c", Self.c, options: options) }
        let xManifest = try #require(try await admin.ref("p", "x")).ref.current.manifest
        for await key in completed where key == StoreLayout.manifest(xManifest) { break }

        // x goes away; the sweep re-marks without it and deletes a's packs.
        try await VersionAdmin.delete(admin, project: "p", version: "x")
        drained.resume()
        let report = try await collecting.value
        #expect(report.packs.deleted > 0)

        lockGate.resume()
        let published = try await publishing.value
        #expect(published.switched)
        let verified = try await Verifier(repository: repository(store)).run()
        #expect(verified.ok, "\(verified.problems)")
        let ref = try #require(try await admin.ref("p", "c"))
        #expect(try await exported(store, manifest: ref.ref.current.manifest) == Self.c)
        if checkSweeps {
            // It read its baseline again (x is gone) and uploaded a's chunks itself: nothing stale reused.
            #expect(published.repairedPacks.isEmpty, "\(published.repairedPacks)")
        } else {
            #expect(!published.repairedPacks.isEmpty, "without the check the baseline names packs the sweep deleted")
        }
    }
}
