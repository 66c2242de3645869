import TroveContent
import TroveManifest

extension TroveServer {
    /// The API's diff document for two builds (version names as they appear in URLs, manifests).
    func diffDocument(project: String, base: (String, Digest), head: (String, Digest)) async throws -> CatalogueAPI.Diff {
        // Pending VersionDiff (branch diff).
        let side = { (v: (String, Digest)) in CatalogueAPI.Diff.Side(version: v.0, manifest: v.1.hex, siteUrl: CatalogueURL.site(project, v.0)) }
        return CatalogueAPI.Diff(project: project, base: side(base), head: side(head), added: [], deleted: [], renamed: [], modified: [])
    }
}
