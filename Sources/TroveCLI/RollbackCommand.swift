import ArgumentParser
import Foundation
import TroveGC

/// `trove rollback PROJECT VERSION [--to BUILD]`
struct RollbackCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Switch a version back to a previous build (atomically; the build rolled back from stays in history).")

    @OptionGroup var global: GlobalOptions
    @Argument var project: String
    @Argument var version: String
    @Option(help: "The build: a manifest digest (6+ hex digits) or N for the N-th previous build (default 1).") var to: String?

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let r: (from: VersionRefBuild, to: VersionRefBuild)
        do {
            let (from, target) = try await VersionAdmin.rollback(ctx.repository, project: project, version: version, to: to)
            r = (.init(manifest: from.manifest.hex, published: from.published), .init(manifest: target.manifest.hex, published: target.published))
        } catch let e as AdminError { throw CLIError.usage(e.description) }
        if global.json { try Output.json(["from": r.from, "to": r.to]) } else {
            Output.line("Rolled \(project)/\(version) back from \(r.from.manifest.prefix(12)) to \(r.to.manifest.prefix(12)) (published \(r.to.published))")
        }
        return .ok
    }

    struct VersionRefBuild: Codable { var manifest: String; var published: String }
}
