import Foundation
import TroveContent

/// What changed between two published builds, from their manifests alone: files and symlinks added,
/// deleted, renamed (a deleted and an added file with the same digest) and modified, and for modified
/// HTML pages whether their main content changed or only the chrome around it (`FileRecord.mainContentDigest`).
/// Paths are as `trove ls` shows them, relative to the version root; every list is in path order.
/// `trove diff --json` prints this encoding, and the serve API builds on it.
public struct VersionDiff: Sendable, Codable, Equatable {
    /// A file deleted at `from` and added at `to` with the same bytes.
    public struct Renamed: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        public init(from: String, to: String) { self.from = from; self.to = to }
    }

    /// A path in both builds whose content (or link target, or kind) differs.
    public struct Modified: Sendable, Codable, Equatable {
        public var path: String
        /// Whether the page's main content changed: nil where unknown (not HTML, or a manifest written
        /// before main-content digests, format version 1), false when only the chrome around it changed.
        public var mainContentChanged: Bool?

        public init(path: String, mainContentChanged: Bool?) {
            self.path = path
            self.mainContentChanged = mainContentChanged
        }

        enum CodingKeys: String, CodingKey {
            case path
            case mainContentChanged = "main_content_changed"
        }

        /// Encodes `main_content_changed` as `null` when unknown (the synthesized encoder would omit it).
        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(path, forKey: .path)
            try c.encode(mainContentChanged, forKey: .mainContentChanged)
        }
    }

    /// The base and head version names.
    public var base: String
    public var head: String
    public var added: [String]
    public var deleted: [String]
    public var renamed: [Renamed]
    public var modified: [Modified]
    /// Why main content was not compared, when it was not (a side records no main-content digests,
    /// or the two took them with different selector lists): every `mainContentChanged` is then nil
    /// and the diff fell back to file digests. Not part of the JSON.
    public var mainContentNotCompared: String? = nil

    /// Whether modified HTML pages say if their main content changed (`mainContentNotCompared` is nil).
    public var mainContentCompared: Bool { mainContentNotCompared == nil }

    enum CodingKeys: String, CodingKey {
        case base, head, added, deleted, renamed, modified
    }

    public init(base: String, head: String, added: [String] = [], deleted: [String] = [], renamed: [Renamed] = [],
                modified: [Modified] = [], mainContentNotCompared: String? = nil) {
        self.base = base
        self.head = head
        self.added = added
        self.deleted = deleted
        self.renamed = renamed
        self.modified = modified
        self.mainContentNotCompared = mainContentNotCompared
    }

    /// True when the two builds hold the same files.
    public var isEmpty: Bool { added.isEmpty && deleted.isEmpty && renamed.isEmpty && modified.isEmpty }

    /// Modified pages whose main content changed.
    public var mainContentChangedCount: Int { modified.count { $0.mainContentChanged == true } }

    /// Compares two manifests' entries (directories are not reported: they follow from their files).
    /// Blocking (reads both SQLite files): call from the blocking-I/O pool.
    public static func between(base: Manifest, head: Manifest, baseName: String, headName: String) throws -> VersionDiff {
        try between(base: base.list(), head: head.list(), baseName: baseName, headName: headName,
                    mainContentNotCompared: whyNotCompared(base: base.metadata, head: head.metadata, baseName: baseName, headName: headName))
    }

    /// Why two manifests' main digests cannot be compared, or nil when they can (one home for the
    /// rule and its wording: `trove diff` and the catalogue print it).
    public static func whyNotCompared(base: ManifestMetadata, head: ManifestMetadata, baseName: String, headName: String) -> String? {
        for (m, name) in [(base, baseName), (head, headName)] where !m.hasMainContentDigests {
            return "\(name) records no main-content digests (published before Trove recorded them, or with publish.main_content off)"
        }
        if let b = base.mainContentSelectors, let h = head.mainContentSelectors, b != h {
            return "\(baseName) and \(headName) took main content with different selectors (\(b); \(h))"
        }
        return nil
    }

    /// Compares two entry lists (any order; the lists come out in path order).
    public static func between(base: [FileRecord], head: [FileRecord], baseName: String, headName: String,
                               mainContentNotCompared: String? = nil) -> VersionDiff {
        var diff = VersionDiff(base: baseName, head: headName, mainContentNotCompared: mainContentNotCompared)
        let old = Dictionary(base.lazy.filter { $0.kind != .dir }.map { ($0.path, $0) }, uniquingKeysWith: { a, _ in a })
        var addedFiles: [FileRecord] = []
        var seen = Set<String>()
        for h in head where h.kind != .dir {
            seen.insert(h.path)
            guard let b = old[h.path] else { addedFiles.append(h); continue }
            guard b.kind != h.kind || b.digest != h.digest || b.linkTarget != h.linkTarget else { continue }
            var main: Bool? = nil
            if mainContentNotCompared == nil, b.kind == .file, h.kind == .file, let bm = b.mainContentDigest, let hm = h.mainContentDigest {
                main = bm != hm
            }
            diff.modified.append(Modified(path: h.path, mainContentChanged: main))
        }
        let deletedFiles = base.filter { $0.kind != .dir && !seen.contains($0.path) }

        // Renames: each deleted file pairs with the first (in path order) unpaired added file of its digest.
        var addedByDigest: [Digest: [Int]] = [:]
        for (i, a) in addedFiles.enumerated() where a.kind == .file {
            if let d = a.digest { addedByDigest[d, default: []].append(i) }
        }
        var paired = Set<Int>()
        for d in deletedFiles {
            if d.kind == .file, let digest = d.digest, var candidates = addedByDigest[digest], !candidates.isEmpty {
                let i = candidates.removeFirst()
                addedByDigest[digest] = candidates
                paired.insert(i)
                diff.renamed.append(Renamed(from: d.path, to: addedFiles[i].path))
            } else {
                diff.deleted.append(d.path)
            }
        }
        diff.added = addedFiles.indices.filter { !paired.contains($0) }.map { addedFiles[$0].path }
        // Path order as SQLite sorts (bytewise), whatever order the lists came in.
        func less(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }
        diff.added.sort(by: less)
        diff.deleted.sort(by: less)
        diff.renamed.sort { less($0.from, $1.from) }
        diff.modified.sort { less($0.path, $1.path) }
        return diff
    }
}
