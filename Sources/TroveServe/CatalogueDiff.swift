import TroveContent
import TroveManifest
import TroveStorage

extension TroveServer {
    /// The API's diff document for two builds (version names as they appear in URLs, manifests):
    /// `VersionDiff` of the two manifests (on the blocking-I/O pool: it reads both from SQLite) with
    /// the URL of every file in each version.
    func diffDocument(project: String, base: (String, Digest), head: (String, Digest)) async throws -> CatalogueAPI.Diff {
        let bm = try await manifests.manifest(base.1), hm = try await manifests.manifest(head.1)
        let bRoot = try await siteRoot(bm), hRoot = try await siteRoot(hm)
        let d = try await BlockingIO.run { try VersionDiff.between(base: bm, head: hm, baseName: base.0, headName: head.0) }
        let side = { (v: (String, Digest)) in CatalogueAPI.Diff.Side(version: v.0, manifest: v.1.hex, siteUrl: CatalogueURL.site(project, v.0)) }
        let inBase = { (path: String) in CatalogueURL.file(project, base.0, path: path, siteRoot: bRoot) }
        let inHead = { (path: String) in CatalogueURL.file(project, head.0, path: path, siteRoot: hRoot) }
        return CatalogueAPI.Diff(
            project: project, base: side(base), head: side(head), mainContentCompared: d.mainContentCompared,
            mainContentNote: d.mainContentNotCompared,
            added: d.added.map { .init(path: $0, url: inHead($0)) },
            deleted: d.deleted.map { .init(path: $0, url: inBase($0)) },
            renamed: d.renamed.map { .init(from: $0.from, to: $0.to, baseUrl: inBase($0.from), headUrl: inHead($0.to)) },
            modified: d.modified.map { .init(path: $0.path, mainContentChanged: $0.mainContentChanged, baseUrl: inBase($0.path), headUrl: inHead($0.path)) })
    }
}
