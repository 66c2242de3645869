import ArgumentParser
import Foundation
import TroveManifest
import TroveRepository

/// `trove ls [PROJECT [VERSION [PATH]]]`
struct LsCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List projects, a project's versions, or a version's files.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Project.") var project: String?
    @Argument(help: "Version.") var version: String?
    @Argument(help: "Directory inside the version (default: all files).") var path: String?

    struct VersionRow: Codable { var version: String; var manifest: String; var published: String; var files: Int; var bytes: Int; var history: Int }
    struct FileRow: Codable { var path: String; var kind: String; var size: Int; var contentType: String?; var digest: String?; var linkTarget: String? }
    struct ProjectRow: Codable { var project: String; var versions: Int }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let repo = ctx.repository
        guard let project else {
            var rows: [ProjectRow] = []
            for p in try await repo.projects() { rows.append(ProjectRow(project: p, versions: try await repo.versions(of: p).count)) }
            if global.json { try Output.json(rows) } else {
                if rows.isEmpty { Output.line("(no projects in \(repo.store.displayName))") }
                for r in rows { Output.line("\(r.project)\t\(r.versions) version\(r.versions == 1 ? "" : "s")") }
            }
            return .ok
        }
        guard let version else {
            var rows: [VersionRow] = []
            for v in try await repo.versions(of: project) {
                let m = try await repo.manifest(v.current.manifest)
                rows.append(VersionRow(version: v.version, manifest: v.current.manifest.hex, published: v.current.published,
                                       files: m.metadata.fileCount, bytes: m.metadata.logicalBytes, history: v.history.count))
            }
            if rows.isEmpty { throw RepositoryError.noSuchVersion(project, "*") }
            if global.json { try Output.json(rows) } else {
                for r in rows {
                    Output.line("\(r.version)\t\(r.published)\t\(Output.count(r.files)) files\t\(Output.bytes(r.bytes))\t\(r.manifest.prefix(12))")
                }
            }
            return .ok
        }
        let m = try await repo.openVersion(project, version)
        let dir = (path ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let entries = try m.list(under: dir)
        if !dir.isEmpty, entries.isEmpty, try m.file(at: dir) == nil {
            throw RepositoryError.noSuchFile(project, version, dir)
        }
        let rows = entries.map { FileRow(path: $0.path, kind: $0.kind.rawValue, size: $0.size, contentType: $0.contentType, digest: $0.digest?.hex, linkTarget: $0.linkTarget) }
        if global.json { try Output.json(rows) } else {
            for r in rows {
                switch r.kind {
                // Names come from a manifest: escaped, so none can drive the terminal.
                case "dir": Output.line("\(Output.safe(r.path))/")
                case "symlink": Output.line("\(Output.safe(r.path)) -> \(Output.safe(r.linkTarget ?? ""))")
                default: Output.line("\(Output.safe(r.path))\t\(r.size)")
                }
            }
        }
        return .ok
    }
}
