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

    /// A version, or (with `malformed` set and nothing else) a ref that does not decode.
    struct VersionRow: Codable {
        var version: String; var manifest: String?; var published: String?; var files: Int?; var bytes: Int?; var history: Int?
        var malformed: String?
    }
    struct FileRow: Codable { var path: String; var kind: String; var size: Int; var contentType: String?; var digest: String?; var linkTarget: String? }
    struct ProjectRow: Codable { var project: String; var versions: Int; var malformedRefs: Int? }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        let repo = ctx.repository
        guard let project else {
            var rows: [ProjectRow] = []
            var malformed: [MalformedRef] = []
            for p in try await repo.projects() {
                let listing = try await repo.versionListing(of: p)
                malformed += listing.malformed
                rows.append(ProjectRow(project: p, versions: listing.versions.count,
                                       malformedRefs: listing.malformed.isEmpty ? nil : listing.malformed.count))
            }
            if global.json { try Output.json(rows) } else {
                if rows.isEmpty { Output.line("(no projects in \(repo.store.displayName))") }
                for r in rows {
                    Output.line("\(r.project)\t\(r.versions) version\(r.versions == 1 ? "" : "s")"
                                + (r.malformedRefs.map { ", \($0) malformed ref\($0 == 1 ? "" : "s")" } ?? ""))
                }
            }
            for m in malformed { Output.error(m.description) }
            return malformed.isEmpty ? .ok : .failure
        }
        guard let version else {
            var rows: [VersionRow] = []
            let listing = try await repo.versionListing(of: project)
            for v in listing.versions {
                let m = try await repo.manifest(v.current.manifest)
                rows.append(VersionRow(version: v.version, manifest: v.current.manifest.hex, published: v.current.published,
                                       files: m.metadata.fileCount, bytes: m.metadata.logicalBytes, history: v.history.count))
            }
            // A ref that does not decode is a row of its own, in version order, and the exit status says so.
            for bad in listing.malformed { rows.append(VersionRow(version: bad.version, malformed: bad.description)) }
            rows.sort { $0.version < $1.version }
            if rows.isEmpty { throw RepositoryError.noSuchVersion(project, "*") }
            if global.json { try Output.json(rows) } else {
                for r in rows {
                    if let bad = r.malformed {
                        Output.line("\(Output.safe(r.version))\t\(Output.safe(bad))")
                    } else {
                        Output.line("\(r.version)\t\(r.published ?? "")\t\(Output.count(r.files ?? 0)) files\t\(Output.bytes(r.bytes ?? 0))\t\((r.manifest ?? "").prefix(12))")
                    }
                }
            }
            for bad in listing.malformed { Output.error(bad.description) }
            return listing.malformed.isEmpty ? .ok : .failure
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
