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

    /// The ref of a version and its ETag (for compare-and-swap), or nil if never published: one GET.
    public func ref(_ project: String, _ version: String) async throws -> RefRead? {
        let key = try StoreLayout.versionRef(project, version)
        guard let blob = try await store.readIfPresent(key) else { return nil }
        return RefRead(ref: try VersionRef.decode(blob.bytes, key: key.rawValue), etag: blob.etag)
    }

    /// Switches a version to `manifest`, keeping the previous one in history; retries on concurrent
    /// switches. `keepHistory` bounds the history list (retention in gc may trim further).
    /// `basedOn` is the ref as the caller read it (its ETag carries the first compare-and-swap, so a
    /// publish reads the ref once); a lost race re-reads it. Returns the ref as written.
    @discardableResult
    public func switchVersion(_ project: String, _ version: String, to manifest: Digest, published: String,
                              dictionary: Digest? = nil, keepHistory: Int = 20, carryingFrom expected: Digest?? = nil,
                              basedOn known: KnownRef = .unknown) async throws -> VersionRef {
        let key = try StoreLayout.versionRef(project, version)
        var existing: RefRead?
        switch known {
        case .unknown: existing = try await ref(project, version)
        case .absent: existing = nil
        case .read(let r): existing = r
        }
        for _ in 0..<50 {
            if let expected, existing?.ref.current.manifest != expected {
                throw RepositoryError.concurrentPublish(project, version)
            }
            var next: VersionRef
            let build = VersionRef.Build(manifest: manifest, published: published, dictionary: dictionary)
            if let existing {
                if existing.ref.current.manifest == manifest { return existing.ref }
                next = existing.ref
                next.history.insert(next.current, at: 0)
                next.history = Array(next.history.prefix(keepHistory))
                next.current = build
            } else {
                next = VersionRef(project: project, version: version, current: build)
            }
            do {
                try await store.put(key, next.encoded(), condition: existing.map { .ifMatch($0.etag) } ?? .ifAbsent)
                return next
            } catch BlobStoreError.preconditionFailed {
                // Someone switched it (or our own retried write landed): re-read and decide.
                existing = try await ref(project, version)
                if let now = existing, now.ref.current.manifest == manifest { return now.ref }
            }
        }
        throw RepositoryError.concurrentPublish(project, version)
    }

    /// One LIST of `refs/<project>/`: the project's versions (with when each ref was last written),
    /// its aliases and the journals of its unfinished publishes.
    public func listProject(_ project: String) async throws -> ProjectListing {
        var out = ProjectListing()
        for o in try await store.listAll(prefix: try StoreLayout.projectPrefix(project)) {
            switch StoreLayout.refEntry(o.key) {
            case .version(_, let v)?: out.versions.append((v, o))
            case .alias(_, let a)?: out.aliases.append((a, o))
            case .journal(_, let v, _)?: out.journals.append((v, o))
            case nil: continue
            }
        }
        return out
    }

    /// Projects that have at least one version.
    public func projects() async throws -> [String] {
        let all = try await store.listAll(prefix: StoreLayout.refsPrefix)
        var names = Set<String>()
        for o in all {
            if case .version(let p, _)? = StoreLayout.refEntry(o.key) { names.insert(p) }
        }
        return names.sorted()
    }

    /// The versions of a project with their refs, sorted by name; throws on the first ref that does
    /// not decode. Listings that should go on past one use `versionListing(of:)`.
    public func versions(of project: String) async throws -> [VersionRef] {
        let listing = try await versionListing(of: project)
        if let bad = listing.malformed.first { throw RepositoryError.malformedRef(bad.key, bad.reason) }
        return listing.versions
    }

    /// The versions of a project with their refs, sorted by name, and apart from them the refs that do
    /// not decode (a ref is input: anyone with a publisher's credentials can write one), each with its
    /// key and why, so one bad ref is reported as such instead of hiding the project's other versions.
    public func versionListing(of project: String) async throws -> VersionListing {
        let prefix = try StoreLayout.versionsPrefix(project)
        var out = VersionListing()
        for o in try await store.listAll(prefix: prefix) {
            do { out.versions.append(try VersionRef.decode(try await store.get(o.key), key: o.key.rawValue)) }
            catch BlobStoreError.notFound { continue }
            catch RepositoryError.malformedRef(let key, let why) {
                var version = String(key.dropFirst(prefix.count))
                if case .version(_, let v)? = StoreLayout.refEntry(o.key) { version = v }
                out.malformed.append(MalformedRef(key: key, version: version, reason: why))
            }
        }
        out.versions.sort { $0.version < $1.version }
        return out
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
        try await cacheFile(bytes, at: manifestCachePath(digest))
    }

    /// Writes verified, content-addressed bytes into the local cache (atomically: temp file, rename).
    func cacheFile(_ bytes: [UInt8], at path: String) async throws {
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

    /// Stores a dictionary: one PUT, no HEAD first (it is named by its digest, so writing it again is
    /// harmless, and it is only stored when a project's first publish has just trained it).
    public func storeDictionary(_ d: ZstdDictionary) async throws {
        try await store.put(StoreLayout.dictionary(d.digest), d.bytes)
        dictionaries.withLock { $0[d.digest] = d }
    }
}

/// A version ref as read, with the ETag its compare-and-swap switch is conditioned on.
public struct RefRead: Sendable {
    public var ref: VersionRef
    public var etag: String
    public init(ref: VersionRef, etag: String) {
        self.ref = ref
        self.etag = etag
    }
}

/// What a caller of `Repository.switchVersion` already knows of the ref.
public enum KnownRef: Sendable {
    /// Nothing: read it first.
    case unknown
    /// Read and found absent: create it.
    case absent
    /// Read: replace exactly this version of it.
    case read(RefRead)
}

/// What one LIST of a project's prefix shows (`Repository.listProject`).
public struct ProjectListing: Sendable {
    public var versions: [(name: String, object: ObjectInfo)] = []
    public var aliases: [(name: String, object: ObjectInfo)] = []
    /// Journals of unfinished publishes, with the version each belongs to.
    public var journals: [(version: String, object: ObjectInfo)] = []
    public init() {}
}

/// A project's version refs as `Repository.versionListing(of:)` read them.
public struct VersionListing: Sendable {
    public var versions: [VersionRef] = []
    public var malformed: [MalformedRef] = []
    public init() {}
}

/// A ref that does not decode: its key, the version its key names, and why.
public struct MalformedRef: Sendable, Codable, Equatable, CustomStringConvertible {
    public var key: String
    public var version: String
    public var reason: String
    public init(key: String, version: String, reason: String) {
        self.key = key
        self.version = version
        self.reason = reason
    }
    public var description: String { "malformed ref \(key): \(reason)" }
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
