import Foundation
import Synchronization
import TroveContent
import TroveManifest
import TroveStorage

/// A Trove store seen as projects, versions and published files: the layer every feature
/// (publish, serve, gc, the read commands) works through.
public final class Repository: Sendable {
    public let store: any BlobStore
    /// Local directory where downloaded manifests are kept (they are immutable, so caching is safe).
    public let cacheDirectory: URL
    private let manifests = Mutex<[Digest: Manifest]>([:])
    private let dictionaries = Mutex<[Digest: ZstdDictionary]>([:])

    public init(store: any BlobStore, cacheDirectory: URL) {
        self.store = store
        self.cacheDirectory = cacheDirectory
    }

    // MARK: Refs

    /// The ref of a version and its ETag (for compare-and-swap), or nil if never published.
    public func ref(_ project: String, _ version: String) async throws -> (ref: VersionRef, etag: String)? {
        let key = try StoreLayout.versionRef(project, version)
        guard let info = try await store.head(key) else { return nil }
        // Read, then confirm the etag did not move in between, so the pair is consistent.
        let bytes: [UInt8]
        do { bytes = try await store.get(key) } catch BlobStoreError.notFound { return nil }
        let ref = try VersionRef.decode(bytes, key: key.rawValue)
        if let again = try await store.head(key), again.etag == info.etag { return (ref, info.etag) }
        return try await self.ref(project, version)
    }

    /// Switches a version to `manifest`, keeping the previous one in history; retries on concurrent
    /// switches. `keepHistory` bounds the history list (retention in gc may trim further).
    /// Returns the ref as written.
    @discardableResult
    public func switchVersion(_ project: String, _ version: String, to manifest: Digest, published: String,
                              keepHistory: Int = 20, carryingFrom expected: Digest?? = nil) async throws -> VersionRef {
        let key = try StoreLayout.versionRef(project, version)
        for _ in 0..<50 {
            let existing = try await ref(project, version)
            if let expected, existing?.ref.current.manifest != expected {
                throw RepositoryError.concurrentPublish(project, version)
            }
            var next: VersionRef
            if let existing {
                if existing.ref.current.manifest == manifest { return existing.ref }
                next = existing.ref
                next.history.insert(next.current, at: 0)
                next.history = Array(next.history.prefix(keepHistory))
                next.current = .init(manifest: manifest, published: published)
            } else {
                next = VersionRef(project: project, version: version, current: .init(manifest: manifest, published: published))
            }
            do {
                try await store.put(key, next.encoded(), condition: existing.map { .ifMatch($0.etag) } ?? .ifAbsent)
                return next
            } catch BlobStoreError.preconditionFailed {
                // Someone switched it (or our own retried write landed): re-read and decide.
                if let now = try await ref(project, version), now.ref.current.manifest == manifest { return now.ref }
                if expected != nil { throw RepositoryError.concurrentPublish(project, version) }
            }
        }
        throw RepositoryError.concurrentPublish(project, version)
    }

    /// Projects that have at least one version.
    public func projects() async throws -> [String] {
        let all = try await store.listAll(prefix: StoreLayout.refsPrefix)
        var names = Set<String>()
        for o in all {
            let s = o.key.segments
            if s.count == 4, s[2] == "versions" { names.insert(String(s[1])) }
        }
        return names.sorted()
    }

    /// The versions of a project with their refs, sorted by name.
    public func versions(of project: String) async throws -> [VersionRef] {
        let prefix = "refs/\(try Names.validate(project, what: "project"))/versions/"
        var out: [VersionRef] = []
        for o in try await store.listAll(prefix: prefix) {
            do { out.append(try VersionRef.decode(try await store.get(o.key), key: o.key.rawValue)) }
            catch BlobStoreError.notFound { continue }
        }
        return out.sorted { $0.version < $1.version }
    }

    // MARK: Manifests

    /// Opens a manifest by digest: from memory, the local cache, or the store (verified on download).
    public func manifest(_ digest: Digest) async throws -> Manifest {
        if let m = manifests.withLock({ $0[digest] }) { return m }
        let path = manifestCachePath(digest)
        if !FileManager.default.fileExists(atPath: path) {
            let object = try await store.get(StoreLayout.manifest(digest))
            let bytes: [UInt8]
            do { bytes = try ManifestCodec.decode(object, digest: digest, name: "manifest \(digest.hex)") }
            catch { throw RepositoryError.corrupt("\(error)") }
            try await cacheManifest(bytes, digest: digest)
        }
        let m = try Manifest(path: path, digest: digest)
        return manifests.withLock { cache in
            if cache.count > 256 { cache.removeAll() }
            if let existing = cache[digest] { return existing }
            cache[digest] = m
            return m
        }
    }

    func manifestCachePath(_ digest: Digest) -> String {
        cacheDirectory.appendingPathComponent("manifests").appendingPathComponent(digest.hex + ".sqlite").path
    }

    /// Writes verified manifest bytes into the local cache (atomically: temp file, rename).
    func cacheManifest(_ bytes: [UInt8], digest: Digest) async throws {
        let path = manifestCachePath(digest)
        try await BlockingIO.run {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let tmp = path + ".\(UInt32.random(in: 0...UInt32.max)).tmp"
            try Data(bytes).write(to: URL(fileURLWithPath: tmp))
            if rename(tmp, path) != 0 { unlink(tmp) }
        }
    }

    /// The live manifest of a version; a clear error when the project or version does not exist.
    public func openVersion(_ project: String, _ version: String) async throws -> Manifest {
        guard let r = try await ref(project, version) else {
            throw RepositoryError.noSuchVersion(project, version)
        }
        return try await manifest(r.ref.current.manifest)
    }

    // MARK: Dictionaries

    public func dictionary(_ digest: Digest) async throws -> ZstdDictionary {
        if let d = dictionaries.withLock({ $0[digest] }) { return d }
        let bytes = try await store.get(StoreLayout.dictionary(digest))
        guard Digest.sha256(bytes) == digest else { throw RepositoryError.corrupt("dictionary \(digest.hex) does not match its digest") }
        let d = try ZstdDictionary(bytes: bytes)
        dictionaries.withLock { $0[digest] = d }
        return d
    }

    /// Stores a dictionary (idempotent: it is named by its digest).
    public func storeDictionary(_ d: ZstdDictionary) async throws {
        let key = StoreLayout.dictionary(d.digest)
        if try await store.head(key) == nil { try await store.put(key, d.bytes) }
        dictionaries.withLock { $0[d.digest] = d }
    }
}

public enum RepositoryError: Error, CustomStringConvertible {
    case noSuchVersion(String, String)
    case noSuchFile(String, String, String)
    case malformedRef(String, String)
    case corrupt(String)
    case concurrentPublish(String, String)

    public var description: String {
        switch self {
        case .noSuchVersion(let p, let v): "no published version \(p)/\(v)"
        case .noSuchFile(let p, let v, let f): "no file \(f) in \(p)/\(v)"
        case .malformedRef(let k, let m): "malformed ref \(k): \(m)"
        case .corrupt(let m): "corrupt store: \(m)"
        case .concurrentPublish(let p, let v): "\(p)/\(v) was switched by a concurrent publish"
        }
    }
}
