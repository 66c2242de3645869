import NIOCore
import Synchronization
import TroveContent

/// A rendered catalogue answer (JSON or HTML) and its strong ETag (a digest of the bytes, so equal
/// answers revalidate as 304 across restarts and servers).
struct CatalogueBody: Sendable {
    var bytes: ByteBuffer
    var etag: String

    init(_ bytes: [UInt8]) {
        self.bytes = ByteBuffer(bytes: bytes)
        etag = "\"" + Digest.sha256(bytes).hex.prefix(32) + "\""
    }
}

/// What the catalogue keeps between requests: listings read from refs (trusted for `refTTL`, like
/// `RefResolver`'s answers), facts of manifests and rendered diffs (kept until evicted: manifests are
/// immutable, so a diff is keyed by its two manifests).
final class CatalogueCache: Sendable {
    struct Stamped<Value: Sendable>: Sendable {
        var value: Value
        var fetched: ContinuousClock.Instant
    }

    /// Which side of a diff and of the API a rendered diff is.
    struct DiffKey: Hashable, Sendable {
        var project: String
        /// Version names as they appear in URLs (aliases resolved).
        var base: String
        var head: String
        var baseManifest: Digest
        var headManifest: Digest
        var page: Bool
    }

    /// Every project of the store (before access filtering).
    let projects = Mutex<Stamped<[CatalogueAPI.Project]>?>(nil)
    let versions = BoundedMap<String, Stamped<CatalogueAPI.VersionList>>(limit: 1024)
    let facts = BoundedMap<Digest, ManifestFacts>(limit: 64)
    let diffs = BoundedMap<DiffKey, CatalogueBody>(limit: 256)
    /// Diffs being computed, so that concurrent requests for one share the work.
    let pending = Mutex<[DiffKey: Task<CatalogueBody, any Error>]>([:])

    init() {}
}
