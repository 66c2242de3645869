import ArgumentParser
import Foundation
import TroveGC

/// `trove verify [--deep]`
struct VerifyCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check that every blob reachable from live versions exists (--deep: decodes to its digest; manifests pass SQLite's integrity check).",
        discussion: "Exits 1 naming every missing or corrupt object and the versions that use it.")

    @OptionGroup var global: GlobalOptions
    @Flag(help: "Download everything live: manifests, packs and dictionaries must hash to their names, every chunk to its digest.") var deep = false

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let r = try await Verifier(repository: ctx.repository, deep: deep).run()
        if global.json { try Output.json(r) } else {
            for p in r.problems { Output.error(p.description) }
            Output.line("verify\(deep ? " --deep" : "") \(r.store): \(r.versions) versions, \(r.builds) builds, \(r.manifests) manifests, \(Output.count(r.packs)) packs, \(r.dictionaries) dictionaries" +
                        (deep ? ", \(Output.count(r.chunksChecked)) chunks (\(Output.bytes(r.bytesChecked))) decoded" : "") +
                        (r.ok ? ": OK" : ": \(r.problems.count) problem(s)") + String(format: " in %.2f s", r.seconds))
        }
        return r.ok ? .ok : .failure
    }
}
