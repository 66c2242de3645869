import Foundation
import TroveContent
import TroveManifest

/// The JSON documents of the `/_/api/v1/` API (field by field in docs/serve.md, pinned by
/// CatalogueTests). The catalogue pages render these same documents, so page and API always agree.
/// Keys are snake_case; sizes are bytes; times are the ISO 8601 strings the refs and manifests hold.
/// Optional fields are written as `null`, never left out (hence the explicit `encode(to:)`s).
enum CatalogueAPI {
    /// `/_/api/v1/projects`: the projects this request may see (public ones, and private ones its
    /// token grants), by name.
    struct ProjectList: Codable, Sendable, Equatable {
        var projects: [Project]
    }

    struct Project: Codable, Sendable, Equatable {
        var name: String
        var isPrivate: Bool
        var versions: Int
        /// What `/<project>/` redirects to (nil when no version can be served).
        var defaultVersion: String?
        var siteUrl: String?
        var catalogueUrl: String
        var versionsUrl: String

        enum CodingKeys: String, CodingKey {
            case name, isPrivate = "private", versions, defaultVersion, siteUrl, catalogueUrl, versionsUrl
        }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(isPrivate, forKey: .isPrivate); try c.encode(versions, forKey: .versions)
            try c.encode(defaultVersion, forKey: .defaultVersion); try c.encode(siteUrl, forKey: .siteUrl)
            try c.encode(catalogueUrl, forKey: .catalogueUrl); try c.encode(versionsUrl, forKey: .versionsUrl)
        }
    }

    /// `/_/api/v1/projects/<p>/versions`.
    struct VersionList: Codable, Sendable, Equatable {
        var project: String
        var isPrivate: Bool
        var defaultVersion: String?
        var versions: [Version]
        var aliases: [Alias]

        enum CodingKeys: String, CodingKey { case project, isPrivate = "private", defaultVersion, versions, aliases }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(project, forKey: .project); try c.encode(isPrivate, forKey: .isPrivate)
            try c.encode(defaultVersion, forKey: .defaultVersion); try c.encode(versions, forKey: .versions); try c.encode(aliases, forKey: .aliases)
        }
    }

    struct Version: Codable, Sendable, Equatable {
        var name: String
        var manifest: String
        /// When the build was made (the manifest's build time).
        var buildTime: String
        /// When this build went live under this version name (the ref's publish time).
        var published: String
        var files: Int
        var bytes: Int
        /// Stored (compressed) bytes of the distinct chunks this build references (`Manifest.storedBytes`).
        var storedBytes: Int
        /// Of `storedBytes`, those whose chunks another live version of the project references too:
        /// stored once, shared.
        var sharedBytes: Int
        /// `sharedBytes / storedBytes` (0 for an empty build).
        var dedupShare: Double
        /// Aliases naming this version.
        var aliases: [String]
        var siteUrl: String
        var media: [Media]
    }

    /// One top-level part of a build: a media type of the Read the Docs layout (`html`, `pdf`, …),
    /// or `.` for a tree in no layout (served as published).
    struct Media: Codable, Sendable, Equatable {
        var name: String
        var files: Int
        var bytes: Int
        /// Where it is browsed (the site root for `html` and `.`), nil for parts not served as a site.
        var url: String?
        /// Files offered under `/_download/` (pdf, epub, htmlzip, json), at most `maxDownloads`.
        var downloads: [Download]
        var downloadsTruncated: Bool

        enum CodingKeys: String, CodingKey { case name, files, bytes, url, downloads, downloadsTruncated }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name); try c.encode(files, forKey: .files); try c.encode(bytes, forKey: .bytes)
            try c.encode(url, forKey: .url); try c.encode(downloads, forKey: .downloads); try c.encode(downloadsTruncated, forKey: .downloadsTruncated)
        }
    }

    struct Download: Codable, Sendable, Equatable {
        /// Path inside the version, as `trove ls` shows it.
        var path: String
        var size: Int
        var url: String
    }

    struct Alias: Codable, Sendable, Equatable {
        var name: String
        var version: String
        var updated: String
    }

    /// `/_/api/v1/projects/<p>/diff?base=<v>&head=<v>`: `VersionDiff` (what changed from `base` to
    /// `head`: files and symlinks added, deleted, renamed, modified) with URLs. Paths are
    /// as `trove ls` shows them; each URL is where serve offers the file in that version (nil when
    /// it is offered under none, e.g. a file outside `html/` and the download media types).
    struct Diff: Codable, Sendable, Equatable {
        struct Side: Codable, Sendable, Equatable {
            /// The version (an alias asked for is resolved to the version it names).
            var version: String
            var manifest: String
            var siteUrl: String
        }
        struct File: Codable, Sendable, Equatable {
            var path: String
            var url: String?
            enum CodingKeys: String, CodingKey { case path, url }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(path, forKey: .path); try c.encode(url, forKey: .url)
            }
        }
        struct Renamed: Codable, Sendable, Equatable {
            var from: String
            var to: String
            var baseUrl: String?
            var headUrl: String?
            enum CodingKeys: String, CodingKey { case from, to, baseUrl, headUrl }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(from, forKey: .from); try c.encode(to, forKey: .to)
                try c.encode(baseUrl, forKey: .baseUrl); try c.encode(headUrl, forKey: .headUrl)
            }
        }
        struct Modified: Codable, Sendable, Equatable {
            var path: String
            /// For HTML pages: whether the main content changed (false: only the chrome around it);
            /// nil when unknown (not HTML, or a manifest from before main-content digests).
            var mainContentChanged: Bool?
            var baseUrl: String?
            var headUrl: String?
            enum CodingKeys: String, CodingKey { case path, mainContentChanged, baseUrl, headUrl }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(path, forKey: .path); try c.encode(mainContentChanged, forKey: .mainContentChanged)
                try c.encode(baseUrl, forKey: .baseUrl); try c.encode(headUrl, forKey: .headUrl)
            }
        }
        var project: String
        var base: Side
        var head: Side
        /// False when either build's manifest predates main-content digests: every
        /// `main_content_changed` is then null (modified is by file digest alone).
        var mainContentCompared: Bool
        /// Why main content was not compared (`VersionDiff.whyNotCompared`); absent when it was.
        var mainContentNote: String?
        var added: [File]
        /// With their URLs in `base`.
        var deleted: [File]
        var renamed: [Renamed]
        var modified: [Modified]
    }

    /// Download links listed per media type: a `json/` part has one file per page, which belongs in no list.
    static let maxDownloads = 20

    /// The one encoder of every API document: snake_case keys, sorted, so equal documents are equal
    /// bytes (and have equal ETags).
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(value))
    }
}

/// Where things are served: the URL of a catalogue page, an API document, a version's site, or one
/// of its files. Every link the API and the pages give is made here.
enum CatalogueURL {
    static let catalogue = "/_/"
    static let projectsAPI = "/_/api/v1/projects"

    static func project(_ p: String) -> String { RequestPath.url(["_", p], trailingSlash: true) }
    static func versionsAPI(_ p: String) -> String { RequestPath.url(["_", "api", "v1", "projects", p, "versions"], trailingSlash: false) }
    static func site(_ p: String) -> String { RequestPath.url([p], trailingSlash: true) }
    static func site(_ p: String, _ v: String) -> String { RequestPath.url([p, v], trailingSlash: true) }

    /// The diff page: `/_/<p>/diff/<base>...<head>`.
    static func diffPage(_ p: String, base: String, head: String) -> String {
        RequestPath.url(["_", p, "diff"], trailingSlash: false) + "/" + RequestPath.encode(base) + "..." + RequestPath.encode(head)
    }

    static func diffAPI(_ p: String, base: String, head: String) -> String {
        RequestPath.url(["_", "api", "v1", "projects", p, "diff"], trailingSlash: false)
            + "?base=" + RequestPath.encode(base) + "&head=" + RequestPath.encode(head)
    }

    /// The URL of a file of a version (`path` as `trove ls` shows it), or nil when serve offers it
    /// under no URL: with an `html/` site root, only `html/…` and the `/_download/` media types are served.
    static func file(_ p: String, _ v: String, path: String, siteRoot: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.first else { return nil }
        if siteRoot.isEmpty { return RequestPath.url([p, v] + parts, trailingSlash: false) }
        if first == siteRoot {
            return parts.count == 1 ? site(p, v) : RequestPath.url([p, v] + parts.dropFirst(), trailingSlash: false)
        }
        if TroveServer.downloadMedia.contains(first), parts.count > 1 {
            return RequestPath.url(["_download", p, v] + parts, trailingSlash: false)
        }
        return nil
    }
}

/// What the catalogue needs of one manifest, read once (manifests are immutable): totals, its parts
/// (media types) and the stored size of each distinct chunk (for the dedup share).
struct ManifestFacts: Sendable {
    struct Part: Sendable {
        var name: String
        var files: Int
        var bytes: Int
        /// (path inside the version, size) of its first `maxDownloads` files, for `/_download/` parts.
        var downloads: [(path: String, size: Int)]
        var downloadsTruncated: Bool
    }
    var buildTime: String
    var files: Int
    var bytes: Int
    var storedBytes: Int
    var siteRoot: String
    var parts: [Part]
    var chunks: [Digest: Int]

    /// Reads the manifest (blocking SQLite: call it on the blocking-I/O pool). `siteRoot` is serve's
    /// rule (`TroveServer.siteRoot`): "html" for the Read the Docs layout, else "".
    init(_ m: Manifest, siteRoot: String) throws {
        self.siteRoot = siteRoot
        buildTime = m.metadata.buildTime
        files = m.metadata.fileCount
        bytes = m.metadata.logicalBytes
        storedBytes = try m.storedBytes()
        var chunks: [Digest: Int] = [:]
        try m.forEachChunk { d, loc in chunks[d] = loc.storedSize }
        self.chunks = chunks
        // Files and bytes per top-level part (files directly at the top are part "."), in one pass.
        var parts: [Part] = []
        var index: [Substring: Int] = [:]
        for r in try m.list() where r.kind == .file {
            var name: Substring = "."
            if !siteRoot.isEmpty, let slash = r.path.firstIndex(of: "/") { name = r.path[..<slash] }
            let i: Int
            if let known = index[name] { i = known } else {
                i = parts.count
                index[name] = i
                parts.append(Part(name: String(name), files: 0, bytes: 0, downloads: [], downloadsTruncated: false))
            }
            parts[i].files += 1
            parts[i].bytes += r.size
            if TroveServer.downloadMedia.contains(parts[i].name) {
                if parts[i].downloads.count < CatalogueAPI.maxDownloads {
                    parts[i].downloads.append((r.path, r.size))
                } else {
                    parts[i].downloadsTruncated = true
                }
            }
        }
        self.parts = parts.sorted { $0.name < $1.name }
    }

    /// The API's media list for this build published as `project`/`version`.
    func media(_ project: String, _ version: String) -> [CatalogueAPI.Media] {
        parts.map { part in
            let url: String? = part.name == "." || part.name == siteRoot ? CatalogueURL.site(project, version) : nil
            let downloads = part.downloads.compactMap { d in
                CatalogueURL.file(project, version, path: d.path, siteRoot: siteRoot).map { CatalogueAPI.Download(path: d.path, size: d.size, url: $0) }
            }
            return CatalogueAPI.Media(name: part.name, files: part.files, bytes: part.bytes, url: url, downloads: downloads,
                                      downloadsTruncated: part.downloadsTruncated)
        }
    }
}
