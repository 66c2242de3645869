import Foundation
import Testing
import TroveContent
import TroveGC
import TroveRepository
import TroveStorage
@testable import TrovePublish
import TroveTesting

/// A publish never commits a manifest naming a pack that is not in the store: republishing over a lost
/// or truncated pack stores its chunks again (issue 12, item 6), and verify names what the loss broke.
@Suite struct MissingPackTests {
    /// Sixteen files of 96 KiB in packs of about 256 KiB: several packs, each holding whole files.
    func tree(_ fx: Fixture, _ name: String, edit: Int? = nil) throws -> String {
        let t = fx.dir(name)
        for i in 0..<16 {
            var bytes = pseudoRandom(96 << 10, seed: UInt64(i + 1))
            if i == edit { bytes[1000] ^= 0xff }
            try fx.write(t, "f\(i).bin", bytes)
        }
        return t
    }

    var options: PublishOptions {
        var o = PublishOptions()
        o.packSize = 256 << 10
        o.trainDictionary = false
        return o
    }

    enum Damage: CaseIterable { case deleted, truncated }

    @Test(arguments: Damage.allCases) func republishingTheSameTreeRepairsTheBuild(_ damage: Damage) async throws {
        let fx = try Fixture()
        let t = try tree(fx, "t")
        let first = try await fx.publish("p", "v1", t, options: options)
        #expect(first.repairedPacks.isEmpty)
        let packs = try fx.packFiles().sorted()
        #expect(packs.count >= 3)
        let lost = packs[1]
        switch damage {
        case .deleted: try FileManager.default.removeItem(atPath: lost)
        case .truncated: #expect(truncate(lost, 100) == 0)
        }
        let broken = try await Verifier(repository: fx.repository, deep: false).run()
        #expect(broken.problems.contains { $0.object.hasSuffix(URL(fileURLWithPath: lost).lastPathComponent) && $0.usedBy.contains { $0.contains("p/v1") } },
                "\(broken.problems)")

        let again = try await fx.publish("p", "v1", t, options: options)
        #expect(again.repairedPacks.map { String($0) } == [URL(fileURLWithPath: lost).lastPathComponent])
        #expect(!again.unchanged && again.switched)
        #expect(again.newChunks > 0 && again.newChunks < first.newChunks)

        // The version is whole again. The repair may write the lost pack back under its own name (same
        // chunks in the same order), which also mends the replaced build; otherwise only that build,
        // kept in the version's history, still names the damaged pack.
        let v = try await Verifier(repository: fx.repository, deep: true).run()
        #expect(v.problems.allSatisfy { $0.usedBy == ["p/v1~1"] }, "\(v.problems)")
        #expect(try fx.identical(t, try await fx.export("p", "v1")))
    }

    @Test func anotherVersionReusingALostPackStoresItsChunksAgain() async throws {
        let fx = try Fixture()
        let t1 = try tree(fx, "t1")
        _ = try await fx.publish("p", "v1", t1, options: options)
        for p in try fx.packFiles() { try FileManager.default.removeItem(atPath: p) }

        let t2 = try tree(fx, "t2", edit: 3)
        let r = try await fx.publish("p", "v2", t2, options: options)
        #expect(r.switched && !r.repairedPacks.isEmpty)
        // With every pack lost, nothing is left to reuse: the same counts as a first publish of t2.
        let cold = try await Fixture().publish("p", "v2", t2, options: options)
        #expect((r.chunks, r.newChunks, r.reusedChunks, r.newBytes) == (cold.chunks, cold.newChunks, cold.reusedChunks, cold.newBytes))
        #expect(try fx.identical(t2, try await fx.export("p", "v2")))

        // v2 is whole; v1 is still broken, and verify says which version the loss breaks.
        let v = try await Verifier(repository: fx.repository, deep: false).run()
        #expect(!v.problems.isEmpty)
        #expect(v.problems.allSatisfy { $0.kind == .missing && $0.usedBy.allSatisfy { $0.contains("p/v1") } }, "\(v.problems)")
    }

    @Test func aHealthyRepublishProbesEachReusedPackOnce() async throws {
        let fx = try Fixture()
        let t = try tree(fx, "t")
        _ = try await fx.publish("p", "v1", t, options: options)
        let packs = try fx.packFiles().count
        try fx.write(t, "f0.bin", pseudoRandom(96 << 10, seed: 99))

        let before = fx.metered.snapshot
        let r = try await fx.publish("p", "v1", t, options: options)
        let after = fx.metered.snapshot
        #expect(r.switched && r.repairedPacks.isEmpty)
        // One HEAD per pack of the previous build (the ref switch and lease make no HEADs).
        #expect(after.heads - before.heads == packs)
    }
}
