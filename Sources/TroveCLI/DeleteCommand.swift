import ArgumentParser
import Foundation
import TroveGC

/// `trove delete PROJECT VERSION`
struct DeleteCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a version (its current build and history); `trove gc` reclaims the space.")

    @OptionGroup var global: GlobalOptions
    @Argument var project: String
    @Argument var version: String
    @Flag(help: "Delete even if an alias points at the version.") var force = false

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let ref: VersionRefOut
        do {
            let r = try await VersionAdmin.delete(ctx.repository, project: project, version: version, force: force)
            ref = VersionRefOut(project: project, version: version, current: r.current.manifest.hex, history: r.history.count)
        } catch let e as AdminError { throw CLIError.usage(e.description) }
        if global.json { try Output.json(ref) } else {
            Output.line("Deleted \(project)/\(version) (build \(ref.current.prefix(12)) and \(ref.history) previous); run `trove gc` to reclaim its blobs")
        }
        return .ok
    }

    struct VersionRefOut: Codable { var project: String; var version: String; var current: String; var history: Int }
}
