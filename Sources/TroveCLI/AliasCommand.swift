import ArgumentParser
import Foundation
import TroveRepository

/// `trove alias PROJECT [ALIAS [VERSION]]`
struct AliasCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "alias",
        abstract: "Point a version alias (latest, stable, ...) at a version, or list a project's aliases.",
        discussion: """
        `trove alias PROJECT` lists aliases; `trove alias PROJECT ALIAS VERSION` sets one; `trove alias PROJECT ALIAS --delete`
        removes one. Aliases resolve like versions in `trove serve` (a version of the same name wins, so an alias
        that would be shadowed by a version is refused). Serve nodes pick up a change within serve.ref_ttl.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Project.") var project: String
    @Argument(help: "Alias name, e.g. latest or stable.") var alias: String?
    @Argument(help: "The version the alias points at.") var version: String?
    @Flag(help: "Remove the alias.") var delete = false

    struct Row: Codable { var alias: String; var version: String; var updated: String }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let repo = ctx.repository
        guard let alias else {
            let rows = try await repo.aliases(of: project).map { Row(alias: $0.alias, version: $0.version, updated: $0.updated) }
            if global.json { try Output.json(rows) } else {
                if rows.isEmpty { Output.line("(no aliases for \(project))") }
                for r in rows { Output.line("\(r.alias)\t-> \(r.version)\t\(r.updated)") }
            }
            return .ok
        }
        if delete {
            guard version == nil else { throw CLIError.usage("--delete takes PROJECT ALIAS only") }
            guard try await repo.removeAlias(project, alias) else { throw CLIError.usage("\(project) has no alias \(alias)") }
            if !global.json { Output.line("removed \(project)/\(alias)") }
            return .ok
        }
        guard let version else {
            guard let a = try await repo.alias(project, alias) else { throw CLIError.usage("\(project) has no alias \(alias)") }
            if global.json { try Output.json(Row(alias: a.alias, version: a.version, updated: a.updated)) } else { Output.line("\(a.alias)\t-> \(a.version)") }
            return .ok
        }
        let now = ISO8601DateFormatter().string(from: Date())
        let a: AliasRef
        do { a = try await repo.setAlias(project, alias, to: version, updated: now) }
        catch let e as AliasError { throw CLIError.usage(e.description) }
        if global.json { try Output.json(Row(alias: a.alias, version: a.version, updated: a.updated)) } else {
            Output.line("\(project)/\(a.alias) -> \(a.version)")
        }
        return .ok
    }
}
