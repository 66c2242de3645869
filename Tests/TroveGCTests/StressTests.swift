import Foundation
import TroveTesting
import Synchronization
import Testing
import TroveContent
import TroveGC
import TrovePublish
import TroveRepository
import TroveStorage

/// Several publishes, deletes, rollbacks and gcs (grace 0, compaction on) at once, then every build
/// any ref still names must export byte-identically to the tree it was published from.
@Suite struct StressTests {
    /// A pool of file contents shared across builds, so dedup and pack sharing are the norm.
    static let pool: [[UInt8]] = (0..<16).map { pseudoRandom(3_000 + Int($0) * 2_500, seed: 1000 + UInt64($0)) }

    static func tree(build: Int, rng: inout SplitMix) -> Tree {
        var t: Tree = ["build-id.txt": Array("build \(build)".utf8)]
        for i in 0..<Int.random(in: 3...7, using: &rng) {
            t["html/f\(i).html"] = pool[Int.random(in: 0..<pool.count, using: &rng)]
        }
        if Bool.random(using: &rng) { t["html/unique.bin"] = pseudoRandom(9_000, seed: 50_000 + UInt64(build)) }
        return t
    }

    final class State: Sendable {
        let expected = Box<[String: Tree]>([:])
        let gcRuns = Box(0), gcDeleted = Box(0), compactions = Box(0)
    }

    final class Box<T: Sendable>: Sendable {
        private let m: Mutex<T>
        init(_ v: T) { m = Mutex(v) }
        func withLock<R>(_ f: (inout T) -> R) -> R { m.withLock { f(&$0) } }
    }

    @Test(arguments: ["memory", "local"])
    func concurrentPublishDeleteRollbackAndGC(backend: String) async throws {
        let store: any BlobStore = backend == "memory" ? MemoryBlobStore() : try LocalBlobStore(root: tempDir("stress-store"))
        let state = State()
        let expected = state.expected, gcRuns = state.gcRuns, gcDeleted = state.gcDeleted, compactions = state.compactions
        let projects = ["p0", "p1"], versions = ["v0", "v1", "v2"]

        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<3 {
                group.addTask {
                    var rng = SplitMix(UInt64(w) &* 7919 &+ 1)
                    let repo = repository(store)
                    for i in 0..<7 {
                        let build = w * 100 + i
                        let t = Self.tree(build: build, rng: &rng)
                        expected.withLock { $0["build \(build)"] = t }
                        let p = projects[Int.random(in: 0..<projects.count, using: &rng)]
                        let v = versions[Int.random(in: 0..<versions.count, using: &rng)]
                        do { try await publish(repo, p, v, t) } catch RepositoryError.concurrentPublish { continue }
                    }
                }
            }
            group.addTask {
                var rng = SplitMix(42)
                let repo = repository(store)
                for _ in 0..<6 {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 20...80, using: &rng)))
                    let p = projects.randomElement(using: &rng)!, v = versions.randomElement(using: &rng)!
                    if Bool.random(using: &rng) { _ = try? await VersionAdmin.delete(repo, project: p, version: v) }
                    else { _ = try? await VersionAdmin.rollback(repo, project: p, version: v) }
                }
            }
            for g in 0..<2 {
                group.addTask {
                    var o = gcOptions(compactBelow: 0.9, keep: 3)
                    o.leaseWait = .seconds(2)
                    for _ in 0..<6 {
                        try await Task.sleep(for: .milliseconds(10 + g * 15))
                        do {
                            let r = try await GarbageCollector(repository: repository(store), options: o).run()
                            gcRuns.withLock { $0 += 1 }
                            gcDeleted.withLock { $0 += r.packs.deleted + r.manifests.deleted }
                            compactions.withLock { $0 += r.compaction.packs }
                        } catch GCError.locked { continue }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(gcRuns.withLock { $0 } > 0)
        print("stress \(backend): \(gcRuns.withLock { $0 }) gc runs deleted \(gcDeleted.withLock { $0 }) objects, compacted \(compactions.withLock { $0 }) packs")

        let check = { (label: String) async throws in
            let repo = repository(store)
            let v = try await Verifier(repository: repo, deep: true).run()
            #expect(v.ok, "\(backend) \(label): \(v.problems)")
            var builds = 0
            for p in try await repo.projects() {
                for ref in try await repo.versions(of: p) {
                    for b in [ref.current] + ref.history {
                        let t = try await exported(store, manifest: b.manifest)
                        let id = String(decoding: t["build-id.txt"] ?? [], as: UTF8.self)
                        #expect(t == expected.withLock { $0[id] }, "\(backend) \(label): \(p)/\(ref.version) \(b.manifest.short) (\(id))")
                        builds += 1
                    }
                }
            }
            return builds
        }
        let live = try await check("after the storm")
        #expect(live > 0)
        _ = try await GarbageCollector(repository: repository(store), options: gcOptions(compactBelow: 0.9, keep: 3)).run()
        _ = try await check("after a final gc")
        // Compaction leaves its old packs and manifests to the next run: within a few runs gc converges.
        var quiet = false
        for _ in 0..<4 where !quiet {
            let r = try await GarbageCollector(repository: repository(store), options: gcOptions(compactBelow: 0.9, keep: 3)).run()
            quiet = r.manifests.deleted == 0 && r.packs.deleted == 0 && r.compaction.packs == 0
        }
        #expect(quiet)
        _ = try await check("after converging")
    }
}
