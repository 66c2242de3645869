import ArgumentParser
import Foundation
import TroveRepository
import TroveServe
import TroveStorage

/// `trove sign-url PROJECT VERSION PATH --expires 1h`
struct SignURLCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "sign-url",
        abstract: "Print a time-limited URL for one file of a (private) project.",
        discussion: """
        PATH is the file's path in the published tree, as `trove ls` shows it (html/index.html, pdf/guide.pdf);
        a directory means its index.html. The signature is HMAC-SHA256 with serve.signing_key over the project,
        the version (or alias) as written, the path and the expiry; the serve nodes need the same key.
        """)

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Project.") var project: String
    @Argument(help: "Version or alias.") var version: String
    @Argument(help: "Path inside the published tree.") var path: String
    @Option(help: ArgumentHelp("How long the URL is valid, e.g. 30m, 1h, 7d.", valueName: "duration")) var expires = "1h"
    @Option(help: ArgumentHelp("Prefix for the printed URL, e.g. https://docs.example.org (serve.base_url).", valueName: "url"))
    var baseURL: String?

    struct Signed: Codable { var url: String; var expires: Int; var path: String }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        guard let key = ctx.setting("serve.signing_key"), !key.isEmpty else {
            throw CLIError.config("serve.signing_key is not set (config file or TROVE_SERVE_SIGNING_KEY)")
        }
        guard let ttl = try Settings.flag(expires, "--expires", .duration(.seconds(1)...SettingValue.maxDuration))?.duration else { return .usage }
        let repo = ctx.repository
        var target = version
        if try await repo.ref(project, version) == nil {
            guard let a = try await repo.alias(project, version) else { throw RepositoryError.noSuchVersion(project, version) }
            target = a.version
        }
        let m = try await repo.openVersion(project, target)
        var logical = path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        // The signature covers the file the path resolves to (symlinks followed, as serve does).
        guard var rec = try m.resolve(logical) else { throw RepositoryError.noSuchFile(project, version, logical) }
        var slash = false
        if rec.kind == .dir {
            guard let index = try m.resolve(rec.path.isEmpty ? "index.html" : rec.path + "/index.html"), index.kind == .file else {
                throw RepositoryError.noSuchFile(project, version, logical + "/index.html")
            }
            logical += "/index.html"
            rec = index
            slash = true
        }
        var segments = logical.split(separator: "/").map(String.init)
        let hasHTML = try m.file(at: "html")?.kind == .dir
        let urlSegments: [String]
        if hasHTML, segments.first == "html" {
            if slash { segments.removeLast() }
            urlSegments = [project, version] + segments.dropFirst()
        } else if hasHTML {
            guard TroveServer.downloadMedia.contains(segments[0]), !slash else {
                throw CLIError.usage("\(logical) is not reachable over HTTP: only html/ and the download folders \(TroveServer.downloadMedia.sorted().joined(separator: ", ")) are served")
            }
            urlSegments = ["_download", project, version] + segments
        } else {
            if slash { segments.removeLast() }
            urlSegments = [project, version] + segments
        }
        let secs = Int(Date().timeIntervalSince1970) + Int(ttl.components.seconds)
        let sig = AccessPolicy.signature(key: key, project: project, version: version, path: rec.path, expires: secs)
        let base = (baseURL ?? ctx.setting("serve.base_url") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        let url = base + RequestPath.url(urlSegments, trailingSlash: slash) + "?expires=\(secs)&signature=\(sig)"
        if global.json { try Output.json(Signed(url: url, expires: secs, path: rec.path)) } else { Output.line(url) }
        return .ok
    }
}
