import TroveContent
import TroveManifest
import TroveStorage

extension TroveServer {
    /// The API's diff document for two builds (version names as they appear in URLs, manifests),
    /// computed on the blocking-I/O pool (it reads both manifests' file lists from SQLite).
    func diffDocument(project: String, base: (String, Digest), head: (String, Digest)) async throws -> CatalogueAPI.Diff {
        let bm = try await manifests.manifest(base.1), hm = try await manifests.manifest(head.1)
        let bRoot = try siteRoot(bm), hRoot = try siteRoot(hm)
        let changes = try await BlockingIO.run { try InterimFileDiff(base: bm, head: hm) }
        let side = { (v: (String, Digest)) in CatalogueAPI.Diff.Side(version: v.0, manifest: v.1.hex, siteUrl: CatalogueURL.site(project, v.0)) }
        let inBase = { (path: String) in CatalogueURL.file(project, base.0, path: path, siteRoot: bRoot) }
        let inHead = { (path: String) in CatalogueURL.file(project, head.0, path: path, siteRoot: hRoot) }
        return CatalogueAPI.Diff(
            project: project, base: side(base), head: side(head),
            added: changes.added.map { .init(path: $0, url: inHead($0)) },
            deleted: changes.deleted.map { .init(path: $0, url: inBase($0)) },
            renamed: changes.renamed.map { .init(from: $0.from, to: $0.to, baseUrl: inBase($0.from), headUrl: inHead($0.to)) },
            modified: changes.modified.map { .init(path: $0, mainContentChanged: nil, baseUrl: inBase($0), headUrl: inHead($0)) })
    }
}

/// File-level changes between two manifests by path and digest, until `VersionDiff` (branch `diff`,
/// with main-content digests) replaces it: main content is unknown here (`null`).
struct InterimFileDiff {
    var added: [String] = [], deleted: [String] = [], modified: [String] = []
    var renamed: [(from: String, to: String)] = []

    init(base: Manifest, head: Manifest) throws {
        var old: [String: Digest?] = [:]
        for r in try base.list() where r.kind == .file { old[r.path] = r.digest }
        var added: [(String, Digest?)] = []
        for r in try head.list() where r.kind == .file {
            if let before = old.removeValue(forKey: r.path) {
                if before != r.digest || r.digest == nil { modified.append(r.path) }
            } else {
                added.append((r.path, r.digest))
            }
        }
        // A deleted and an added file with the same digest are a rename (paired in path order).
        var gone: [Digest: [String]] = [:]
        for (path, d) in old.sorted(by: { $0.key < $1.key }) { if let d { gone[d, default: []].append(path) } }
        var renamedFrom: Set<String> = []
        for (path, d) in added {
            if let d, var from = gone[d], !from.isEmpty {
                renamed.append((from.removeFirst(), path))
                renamedFrom.insert(renamed[renamed.count - 1].from)
                gone[d] = from
            } else {
                self.added.append(path)
            }
        }
        deleted = old.keys.filter { !renamedFrom.contains($0) }.sorted()
    }
}
