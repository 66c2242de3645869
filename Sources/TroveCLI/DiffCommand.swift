import ArgumentParser
import Foundation
import TroveManifest
import TroveRepository

/// `trove diff PROJECT BASE HEAD`
struct DiffCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "diff", abstract: "Show what changed between two versions of a project (from their manifests).",
        discussion: """
        Lists added, deleted, renamed (same content, new path) and modified files, and for modified HTML pages \
        whether their main content changed or only the chrome around it (selectors in docs/storage-format.md). \
        Summary first, then one line per path: A added, D deleted, R renamed, M modified. \
        --json prints one object: {base, head, added, deleted, renamed: [{from, to}], modified: [{path, main_content_changed}]}.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Project.") var project: String
    @Argument(help: "Base version.") var base: String
    @Argument(help: "Head version.") var head: String

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let d = try await ctx.repository.diff(project, base: base, head: head)
        if global.json {
            try Output.json(d)
            return .ok
        }
        for line in DiffCommand.text(d, project: project) { Output.line(line) }
        return .ok
    }

    /// The human output: a summary line, then one line per path (names escaped: they come from manifests).
    static func text(_ d: VersionDiff, project: String) -> [String] {
        let main = d.mainContentChangedCount
        let chrome = d.modified.count { $0.mainContentChanged == false }
        let unknown = d.modified.count - main - chrome
        var out = ["\(Output.safe(project)) \(Output.safe(d.base)) -> \(Output.safe(d.head)): "
                   + "\(d.added.count) added, \(d.deleted.count) deleted, \(d.renamed.count) renamed, \(d.modified.count) modified"
                   + (d.modified.isEmpty ? "" : " (\(main) with main content changed, \(chrome) only around it, \(unknown) not compared)")]
        if d.isEmpty { out.append("no differences") }
        out += d.added.map { "A  \(Output.safe($0))" }
        out += d.deleted.map { "D  \(Output.safe($0))" }
        out += d.renamed.map { "R  \(Output.safe($0.from)) -> \(Output.safe($0.to))" }
        out += d.modified.map { m in
            switch m.mainContentChanged {
            case true?: "M  \(Output.safe(m.path))  (main content changed)"
            case false?: "M  \(Output.safe(m.path))  (only around the main content)"
            case nil: "M  \(Output.safe(m.path))"
            }
        }
        if let why = d.mainContentNotCompared {
            out.append("note: \(Output.safe(why)): files are compared by file digest only, so no page says whether its main content changed")
        }
        return out
    }
}
