import ArgumentParser
import Foundation
import TroveContent
import TroveRepository
import TroveStorage

/// `trove stats`
struct StatsCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Logical vs stored bytes, object counts, dedup and compression ratios.")

    @OptionGroup var global: GlobalOptions

    struct Stats: Codable {
        var projects = 0, versions = 0, liveBuilds = 0
        var logicalBytes = 0
        var uniqueChunks = 0, uniqueRawBytes = 0, uniqueStoredBytes = 0
        var packs = 0, packBytes = 0, manifests = 0, manifestBytes = 0, dictionaries = 0, dictionaryBytes = 0
        var storedBytes: Int { packBytes + manifestBytes + dictionaryBytes }
        var dedupRatio: Double { uniqueRawBytes > 0 ? Double(logicalBytes) / Double(uniqueRawBytes) : 1 }
        var compressionRatio: Double { uniqueStoredBytes > 0 ? Double(uniqueRawBytes) / Double(uniqueStoredBytes) : 1 }
        enum CodingKeys: String, CodingKey {
            case projects, versions, liveBuilds, logicalBytes, uniqueChunks, uniqueRawBytes, uniqueStoredBytes, packs, packBytes,
                 manifests, manifestBytes, dictionaries, dictionaryBytes, storedBytes, dedupRatio, compressionRatio
        }
        func encode(to e: any Encoder) throws {
            var c = e.container(keyedBy: CodingKeys.self)
            try c.encode(projects, forKey: .projects); try c.encode(versions, forKey: .versions); try c.encode(liveBuilds, forKey: .liveBuilds)
            try c.encode(logicalBytes, forKey: .logicalBytes); try c.encode(uniqueChunks, forKey: .uniqueChunks)
            try c.encode(uniqueRawBytes, forKey: .uniqueRawBytes); try c.encode(uniqueStoredBytes, forKey: .uniqueStoredBytes)
            try c.encode(packs, forKey: .packs); try c.encode(packBytes, forKey: .packBytes); try c.encode(manifests, forKey: .manifests)
            try c.encode(manifestBytes, forKey: .manifestBytes); try c.encode(dictionaries, forKey: .dictionaries)
            try c.encode(dictionaryBytes, forKey: .dictionaryBytes); try c.encode(storedBytes, forKey: .storedBytes)
            try c.encode(dedupRatio, forKey: .dedupRatio); try c.encode(compressionRatio, forKey: .compressionRatio)
        }
        init() {}
        init(from d: any Decoder) throws { self.init() }
    }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let repo = ctx.repository
        var s = Stats()
        var seen = Set<Digest>()
        for p in try await repo.projects() {
            s.projects += 1
            let listing = try await repo.versionListing(of: p)
            // A ref that does not decode counts nowhere; it is named on stderr (`verify` reports it too).
            for bad in listing.malformed { Output.error("warning: skipped \(bad.description)") }
            for v in listing.versions {
                s.versions += 1
                s.liveBuilds += 1
                let m = try await repo.manifest(v.current.manifest)
                s.logicalBytes += m.metadata.logicalBytes
                try m.forEachChunk { d, loc in
                    if seen.insert(d).inserted {
                        s.uniqueChunks += 1
                        s.uniqueRawBytes += loc.rawSize
                        s.uniqueStoredBytes += loc.storedSize
                    }
                }
            }
        }
        for o in try await repo.store.listAll(prefix: StoreLayout.packsPrefix) { s.packs += 1; s.packBytes += o.size }
        for o in try await repo.store.listAll(prefix: StoreLayout.manifestsPrefix) { s.manifests += 1; s.manifestBytes += o.size }
        for o in try await repo.store.listAll(prefix: StoreLayout.dictsPrefix) { s.dictionaries += 1; s.dictionaryBytes += o.size }
        if global.json { try Output.json(s) } else {
            Output.line("Store \(repo.store.displayName)")
            Output.line("  projects     \(s.projects), versions \(s.versions)")
            Output.line("  logical      \(Output.bytes(s.logicalBytes)) in live versions")
            Output.line("  unique       \(Output.count(s.uniqueChunks)) chunks, \(Output.bytes(s.uniqueRawBytes)) raw → \(Output.bytes(s.uniqueStoredBytes)) stored")
            Output.line("  objects      \(Output.count(s.packs)) packs (\(Output.bytes(s.packBytes))), \(s.manifests) manifests (\(Output.bytes(s.manifestBytes))), \(s.dictionaries) dictionaries (\(Output.bytes(s.dictionaryBytes)))")
            Output.line("  stored       \(Output.bytes(s.storedBytes)) in all")
            Output.line(String(format: "  ratios       dedup %.2f×, compression %.2f×, overall %.2f×", s.dedupRatio, s.compressionRatio,
                               s.storedBytes > 0 ? Double(s.logicalBytes) / Double(s.storedBytes) : 1))
        }
        return .ok
    }
}
