import Foundation
import TroveContent

/// The kind of a path in a published tree.
public enum EntryKind: String, Sendable, Codable {
    case file, dir, symlink
}

/// One path of a published build.
public struct FileRecord: Sendable, Equatable {
    /// Logical path relative to the build root, `/`-separated, no leading slash (e.g. `html/index.html`).
    public var path: String
    public var kind: EntryKind
    public var size: Int
    /// POSIX permission bits (0o644, 0o755 ...).
    public var mode: Int
    public var contentType: String?
    /// SHA-256 of the file's bytes (files only).
    public var digest: Digest?
    /// Target of a symlink (symlinks only).
    public var linkTarget: String?
    /// Row id inside its manifest; used to fetch the chunk list.
    public var id: Int
    /// SHA-256 of an HTML page's main content (`MainContent`), so a diff can tell a changed page from a
    /// changed footer. nil for other files, and in manifests of format version 1.
    public var mainContentDigest: Digest?

    public init(path: String, kind: EntryKind, size: Int, mode: Int, contentType: String?, digest: Digest?, linkTarget: String?, id: Int = 0,
                mainContentDigest: Digest? = nil) {
        self.path = path
        self.kind = kind
        self.size = size
        self.mode = mode
        self.contentType = contentType
        self.digest = digest
        self.linkTarget = linkTarget
        self.id = id
        self.mainContentDigest = mainContentDigest
    }
}

/// Build metadata recorded in every manifest's `meta` table.
public struct ManifestMetadata: Sendable, Codable, Equatable {
    /// The format this trove writes: 2 added `files.main_digest` (main-content digests of HTML pages).
    public static let currentFormatVersion = 2
    /// Formats this trove reads; version 1 manifests read with no main-content digests.
    public static let readableFormatVersions = 1...currentFormatVersion

    public var formatVersion: Int = ManifestMetadata.currentFormatVersion
    public var project: String
    public var version: String
    /// When the build was published (ISO 8601, UTC). From `--build-time` / SOURCE_DATE_EPOCH for reproducible manifests.
    public var buildTime: String
    public var toolVersion: String
    public var chunker: ChunkerParameters
    /// The zstd dictionary new chunks of this build were compressed with, if any.
    public var dictionary: Digest?
    public var fileCount: Int = 0
    public var logicalBytes: Int = 0
    public var chunkCount: Int = 0
    /// SHA-256 over every entry's path, kind, size, mode, digest and link target (see `TreeDigest`):
    /// equal tree digests mean byte-identical trees, so an unchanged republish writes nothing.
    public var treeDigest: Digest?
    /// Media types (top-level folders) whose publish failed; their previous content was carried over.
    public var carriedOver: [String] = []

    /// The selector list (`MainContentSelectors`, canonical text) the main-content digests of HTML
    /// pages were taken with; nil when the manifest records none (format 1, or `publish.main_content`
    /// off). A diff compares main digests only between manifests with the same list.
    public var mainContentSelectors: String? = MainContentSelectors.standard.description

    /// Whether the manifest records main-content digests of HTML pages.
    public var hasMainContentDigests: Bool { mainContentSelectors != nil }

    /// Whether the `files` table has the `main_digest` column (format version 2 on).
    public var hasMainDigestColumn: Bool { formatVersion >= 2 }

    public init(project: String, version: String, buildTime: String, toolVersion: String,
                chunker: ChunkerParameters, dictionary: Digest?) {
        self.project = project
        self.version = version
        self.buildTime = buildTime
        self.toolVersion = toolVersion
        self.chunker = chunker
        self.dictionary = dictionary
    }
}

/// A digest of a whole published tree, independent of how its files were packed.
public enum TreeDigest {
    public static func compute(_ records: some Sequence<FileRecord>) -> Digest {
        var h = SHA256Hasher()
        // Entries are hashed 64 KiB at a time: the digest of the concatenation, without a hashing call
        // per entry.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(80 << 10)
        for r in records {
            // path NUL kind NUL size(8) mode(4) digest(32 or 0) link NUL, per entry: unambiguous and cheap.
            buffer.append(contentsOf: r.path.utf8)
            buffer.append(0)
            buffer.append(contentsOf: r.kind.rawValue.utf8)
            buffer.append(0)
            withUnsafeBytes(of: UInt64(r.size).littleEndian) { buffer.append(contentsOf: $0) }
            withUnsafeBytes(of: UInt32(r.mode).littleEndian) { buffer.append(contentsOf: $0) }
            if let d = r.digest { d.withBytes { buffer.append(contentsOf: $0) } }
            if let link = r.linkTarget { buffer.append(contentsOf: link.utf8) }
            buffer.append(0)
            if buffer.count >= 64 << 10 {
                h.update(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        h.update(buffer)
        return h.finalize()
    }
}
