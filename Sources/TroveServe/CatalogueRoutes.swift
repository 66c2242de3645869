import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

// The reserved `/_/` namespace (project and version names cannot start with `_`, `Names`): the
// catalogue pages and the JSON API of docs/serve.md.
//
//   /_/                                         projects page
//   /_/<p>/                                     versions and aliases of a project
//   /_/<p>/diff/<base>...<head>                 pages changed between two versions
//   /_/api/v1/projects                          JSON of the above, in the same order
//   /_/api/v1/projects/<p>/versions
//   /_/api/v1/projects/<p>/diff?base=<v>&head=<v>
//
// A private project the request may not read is answered like a project that does not exist.
extension TroveServer {
    /// Answers a request whose first segment is `_`.
    func catalogue(_ request: Request, path: RequestPath) async throws -> Response {
        let s = path.segments
        switch s.count {
        case 1:
            guard path.trailingSlash else { return redirect(.movedPermanently, to: CatalogueURL.catalogue, cacheControl: configuration.cacheControl) }
            let list = try await visibleProjects(request)
            return catalogueAnswer(request, CatalogueBody(CataloguePages.projects(list)), html: true, isPrivate: list.projects.contains(where: \.isPrivate))
        case 2: // (a project named `api` too: the API's paths are longer)
            guard await catalogueMayRead(request, project: s[1]) else { return notFound() }
            guard path.trailingSlash else { return redirect(.movedPermanently, to: CatalogueURL.project(s[1]), cacheControl: configuration.cacheControl) }
            guard let list = try await versionList(s[1]) else { return notFound() }
            return catalogueAnswer(request, CatalogueBody(CataloguePages.versions(list)), html: true, isPrivate: list.isPrivate)
        case 4 where s[2] == "diff" && !path.trailingSlash:
            guard await catalogueMayRead(request, project: s[1]), let (base, head) = CatalogueURL.diffRange(s[3]) else { return notFound() }
            return try await diffAnswer(request, project: s[1], base: base, head: head, page: true)
        case 4 where s[1] == "api" && s[2] == "v1" && s[3] == "projects":
            let list = try await visibleProjects(request)
            return catalogueAnswer(request, CatalogueBody(try CatalogueAPI.encode(list)), html: false, isPrivate: list.projects.contains(where: \.isPrivate))
        case 6 where s[1] == "api" && s[2] == "v1" && s[3] == "projects" && s[5] == "versions":
            guard await catalogueMayRead(request, project: s[4]), let list = try await versionList(s[4]) else { return notFound() }
            return catalogueAnswer(request, CatalogueBody(try CatalogueAPI.encode(list)), html: false, isPrivate: list.isPrivate)
        case 6 where s[1] == "api" && s[2] == "v1" && s[3] == "projects" && s[5] == "diff":
            guard await catalogueMayRead(request, project: s[4]) else { return notFound() }
            let q = CatalogueURL.query(path.query)
            guard let base = q["base"], let head = q["head"] else {
                return plain(.badRequest, "base and head are required, once each: ?base=VERSION&head=VERSION\n", extra: [.cacheControl: "no-cache"])
            }
            return try await diffAnswer(request, project: s[4], base: base, head: head, page: false)
        default:
            return notFound()
        }
    }

    /// Whether this request may read `project` (public, or private and granted by a token or the host
    /// application): the catalogue's one access check, `readAccess` as for pages.
    func catalogueMayRead(_ request: Request, project: String) async -> Bool {
        await readAccess(project: project, headers: request.headers, signed: nil,
                         subject: AuthSubject(method: request.method.rawValue, uri: request.head.path ?? "", project: project,
                                              version: nil, path: nil)) == .granted
    }

    /// A 200 (or 304 when `If-None-Match` names its ETag) with a catalogue body. Listings move with
    /// refs, so caches revalidate every time (`no-cache`); the answer varies with the token.
    func catalogueAnswer(_ request: Request, _ body: CatalogueBody, html: Bool, isPrivate: Bool) -> Response {
        let cacheControl = isPrivate ? configuration.privateCacheControl : "no-cache"
        var h: HTTPFields = [.eTag: body.etag, .cacheControl: cacheControl, .vary: "Authorization"]
        if let inm = request.headers[.ifNoneMatch], TroveServer.matches(inm, body.etag) {
            return Response(status: .notModified, headers: h, body: .init())
        }
        h[.contentType] = html ? "text/html; charset=utf-8" : "application/json"
        h[.contentLength] = String(body.bytes.readableBytes)
        return Response(status: .ok, headers: h, body: .init(byteBuffer: body.bytes))
    }

    // MARK: Listings

    /// The projects this request may see, by name.
    func visibleProjects(_ request: Request) async throws -> CatalogueAPI.ProjectList {
        let now = ContinuousClock.now
        let all: [CatalogueAPI.Project]
        if let cached = catalogueCache.projects.withLock({ $0 }), now - cached.fetched < configuration.refTTL {
            all = cached.value
        } else {
            var fresh: [CatalogueAPI.Project] = []
            for p in try await repository.projects() {
                // A project with only malformed refs has nothing to show; its refs are reported by `trove verify`.
                let listing = try await repository.versionListing(of: p)
                guard !listing.versions.isEmpty else { continue }
                var defaultVersion: String? = nil
                if case .defaultVersion(let v) = try await refs.defaultVersion(p) { defaultVersion = v }
                fresh.append(CatalogueAPI.Project(
                    name: p, isPrivate: configuration.access.isPrivate(p), versions: listing.versions.count,
                    defaultVersion: defaultVersion, siteUrl: defaultVersion == nil ? nil : CatalogueURL.site(p),
                    catalogueUrl: CatalogueURL.project(p), versionsUrl: CatalogueURL.versionsAPI(p)))
            }
            all = fresh.sorted { $0.name < $1.name }
            catalogueCache.projects.withLock { $0 = .init(value: all, fetched: now) }
        }
        var visible: [CatalogueAPI.Project] = []
        for p in all { if await catalogueMayRead(request, project: p.name) { visible.append(p) } }
        return CatalogueAPI.ProjectList(projects: visible)
    }

    /// A project's versions and aliases, or nil when it has none (no such project). The caller checks access.
    func versionList(_ project: String) async throws -> CatalogueAPI.VersionList? {
        guard (try? Names.validate(project, what: "project")) != nil else { return nil }
        let now = ContinuousClock.now
        if let cached = catalogueCache.versions.get(project), now - cached.fetched < configuration.refTTL { return cached.value }
        let listing = try await repository.versionListing(of: project)
        guard !listing.versions.isEmpty else { return nil }
        let aliases = try await repository.aliases(of: project)
        var facts: [ManifestFacts] = []
        for v in listing.versions { facts.append(try await manifestFacts(v.current.manifest)) }
        // How many versions reference each chunk: a chunk of two or more is stored once for all of them.
        var users: [Digest: Int] = [:]
        for f in facts { for d in f.chunks.keys { users[d, default: 0] += 1 } }
        var versions: [CatalogueAPI.Version] = []
        for (v, f) in zip(listing.versions, facts) {
            var shared = 0
            for (d, size) in f.chunks where users[d, default: 0] > 1 { shared += size }
            let share = f.storedBytes > 0 ? Double(min(shared, f.storedBytes)) / Double(f.storedBytes) : 0
            versions.append(CatalogueAPI.Version(
                name: v.version, manifest: v.current.manifest.hex, buildTime: f.buildTime, published: v.current.published,
                files: f.files, bytes: f.bytes, storedBytes: f.storedBytes, sharedBytes: shared, dedupShare: share,
                aliases: aliases.filter { $0.version == v.version }.map(\.alias),
                siteUrl: CatalogueURL.site(project, v.version), media: f.media(project, v.version)))
        }
        var defaultVersion: String? = nil
        if case .defaultVersion(let d) = try await refs.defaultVersion(project) { defaultVersion = d }
        let list = CatalogueAPI.VersionList(
            project: project, isPrivate: configuration.access.isPrivate(project), defaultVersion: defaultVersion,
            versions: versions, aliases: aliases.map { CatalogueAPI.Alias(name: $0.alias, version: $0.version, updated: $0.updated) })
        catalogueCache.versions.put(project, .init(value: list, fetched: now))
        return list
    }

    /// A manifest's facts, read once on the blocking-I/O pool (SQLite) and kept.
    func manifestFacts(_ digest: Digest) async throws -> ManifestFacts {
        if let known = catalogueCache.facts.get(digest) { return known }
        let m = try await manifests.manifest(digest)
        let root = try await siteRoot(m)
        let f = try await BlockingIO.run { try ManifestFacts(m, siteRoot: root) }
        catalogueCache.facts.put(digest, f)
        return f
    }

    // MARK: Diffs

    /// The diff of two versions (names or aliases) of a project, as JSON or as the diff page; 404 when
    /// either does not exist. Rendered once per manifest pair and kept.
    func diffAnswer(_ request: Request, project: String, base: String, head: String, page: Bool) async throws -> Response {
        guard (try? Names.validate(project, what: "project")) != nil,
              case .version(let baseManifest, let baseVersion) = try await refs.version(project, base),
              case .version(let headManifest, let headVersion) = try await refs.version(project, head) else { return notFound() }
        let key = CatalogueCache.DiffKey(project: project, base: baseVersion, head: headVersion,
                                         baseManifest: baseManifest, headManifest: headManifest, page: page)
        let isPrivate = configuration.access.isPrivate(project)
        if let body = catalogueCache.diffs.get(key) { return catalogueAnswer(request, body, html: page, isPrivate: isPrivate) }
        // Requests for a diff being computed wait for that computation instead of repeating it.
        let work = catalogueCache.pending.withLock { pending in
            if let running = pending[key] { return running }
            let t = Task { [self] () throws -> CatalogueBody in
                defer { _ = catalogueCache.pending.withLock { $0.removeValue(forKey: key) } }
                let doc = try await diffDocument(project: project, base: (baseVersion, baseManifest), head: (headVersion, headManifest))
                let body = CatalogueBody(page ? CataloguePages.diff(doc) : try CatalogueAPI.encode(doc))
                catalogueCache.diffs.put(key, body)
                return body
            }
            pending[key] = t
            return t
        }
        return catalogueAnswer(request, try await work.value, html: page, isPrivate: isPrivate)
    }
}

extension CatalogueURL {
    /// `<base>...<head>` of a diff page, split at the first `...` that leaves a valid head (names may
    /// hold dots but never start with one).
    static func diffRange(_ segment: String) -> (String, String)? {
        var from = segment.startIndex
        while let r = segment.range(of: "...", range: from..<segment.endIndex) {
            let base = String(segment[..<r.lowerBound]), head = String(segment[r.upperBound...])
            if !base.isEmpty, !head.isEmpty, !head.hasPrefix(".") { return (base, head) }
            from = segment.index(after: r.lowerBound)
        }
        return nil
    }

    /// The query's parameters, percent-decoded; a parameter given twice is left out (which copy would
    /// count is up to each parser).
    static func query(_ q: Substring?) -> [String: String] {
        var out: [String: String] = [:], twice: Set<String> = []
        for pair in (q ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String? { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let k = decode(kv[0]), let v = kv.count == 2 ? decode(kv[1]) : "" else { continue }
            if out[k] != nil { twice.insert(k) }
            out[k] = v
        }
        for k in twice { out[k] = nil }
        return out
    }
}
