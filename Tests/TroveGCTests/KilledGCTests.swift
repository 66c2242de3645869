import Foundation
import Testing
import TroveContent
import TroveGC
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting
#if canImport(Glibc)
import Glibc
#endif

/// SIGKILLs the real `trove gc` in the middle of its sweep (paused by the TROVE_GC_TEST_PAUSE hook
/// after its first one-key delete batch): `trove verify` must accept the store, the next gc must
/// take over the dead holder's lock and finish, and the live version must export unchanged.
@Suite struct KilledGCTests {
    static var trove: URL {
        // The test bundle sits next to the products in .build/<config>/.
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("trove")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return URL(fileURLWithPath: "trove-not-built")
    }

    func run(_ args: [String], env: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = Self.trove
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func killedMidSweepLeavesAStoreVerifyAcceptsAndTheNextGCFinishes() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.trove.path), "build the trove product first (swift build)")
        let root = tempDir("killed-store")
        let store = try LocalBlobStore(root: root)
        try await StoreMarker.create(in: store) // the CLI refuses a location without it
        let repo = repository(store)
        let keep: Tree = ["html/keep.html": pseudoRandom(60_000, seed: 21)]
        var doomed: Tree = [:]
        for i in 0..<6 { doomed["html/d\(i).html"] = pseudoRandom(40_000, seed: 30 + UInt64(i)) }
        let kept = try await publish(repo, "p", "keep", keep)
        let gone = try await publish(repo, "p", "gone", doomed)
        #expect(gone.packs > 3)
        try await VersionAdmin.delete(repo, project: "p", version: "gone")
        let storeArgs = ["--store", "file://" + root.path, "--cache-dir", tempDir("cli-cache").path]

        // Start gc, wait until it reports it is paused after deleting one object, then SIGKILL it.
        let p = Process()
        p.executableURL = Self.trove
        p.arguments = ["gc", "--grace", "0s", "--batch-size", "1"] + storeArgs
        p.environment = ProcessInfo.processInfo.environment.merging(["TROVE_GC_TEST_PAUSE": "deleted-1"]) { _, b in b }
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        var seen = ""
        let deadline = Date().addingTimeInterval(120)
        while !seen.contains("paused at deleted-1"), Date() < deadline {
            let d = err.fileHandleForReading.availableData
            if d.isEmpty { break }
            seen += String(decoding: d, as: UTF8.self)
        }
        #expect(seen.contains("paused at deleted-1"), "gc never paused: \(seen)")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        #expect(p.terminationReason == .uncaughtSignal)

        // The lock is left behind, held by a dead process, in the sweeping phase.
        let lock = try GCLockDocument.decode(try await store.get(StoreLayout.gcLock))
        #expect(lock.phase == .sweeping && lock.holder.isDeadLocalProcess)
        let packsLeft = try await store.listAll(prefix: "packs/").count

        let verify = try run(["verify", "--deep"] + storeArgs)
        #expect(verify.status == 0, "verify after kill: \(verify.out) \(verify.err)")
        // A publish is not held up by the dead gc's sweep.
        try await publish(repo, "p", "after", ["x.html": pseudoRandom(5_000, seed: 99)])

        let next = try run(["gc", "--grace", "0s", "--json"] + storeArgs)
        #expect(next.status == 0, "gc after kill: \(next.err)")
        struct Out: Decodable { var report: GCReport }
        let report = try JSONDecoder().decode(Out.self, from: Data(next.out.utf8)).report
        #expect(report.packs.deleted > 0 && report.packs.deleted < packsLeft)
        let released = try GCLockDocument.decode(try await store.get(StoreLayout.gcLock))
        #expect(!released.isLive() && released.phase == .marking && released.sweepEnded != nil)
        let again = try run(["verify", "--deep"] + storeArgs)
        #expect(again.status == 0, "\(again.err)")
        let ref = try #require(try await repo.ref("p", "keep"))
        #expect(ref.ref.current.manifest.hex == kept.manifest)
        #expect(try await exported(store, manifest: ref.ref.current.manifest) == keep)
        let idle = try run(["gc", "--grace", "0s", "--json"] + storeArgs)
        let last = try JSONDecoder().decode(Out.self, from: Data(idle.out.utf8)).report
        #expect(last.packs.deleted == 0 && last.manifests.deleted == 0)
    }

    @Test func verifyExitsNonZeroNamingWhatIsMissing() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.trove.path), "build the trove product first (swift build)")
        let root = tempDir("verify-store")
        let store = try LocalBlobStore(root: root)
        try await StoreMarker.create(in: store) // the CLI refuses a location without it
        let repo = repository(store)
        let r = try await publish(repo, "docs", "v1", ["index.html": pseudoRandom(30_000, seed: 5)])
        let pack = try await repo.manifest(Digest(hex: r.manifest!)!).referencedObjects().packs[0]
        try await store.delete([StoreLayout.pack(pack)])
        let v = try run(["verify", "--store", "file://" + root.path, "--cache-dir", tempDir("cli-cache").path])
        #expect(v.status == 1)
        #expect(v.err.contains(pack.hex) && v.err.contains("docs/v1") && v.err.contains("missing"))
    }
}
