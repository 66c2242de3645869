import Foundation

/// The one storage abstraction: a flat namespace of immutable-ish objects (packs, manifests, refs).
///
/// Backends implement these five operations and nothing else; retries, concurrency limits, request
/// counting and caching are decorators that wrap any backend (see `RetryingBlobStore` and friends).
/// Every backend must pass the conformance suite in `Tests/TroveStorageTests`.
public protocol BlobStore: Sendable {
    /// A human-readable name of the store for messages; never contains secrets.
    var displayName: String { get }

    /// Writes a whole object. With `.ifAbsent` or `.ifMatch`, fails with `BlobStoreError.preconditionFailed`
    /// when the condition does not hold, so concurrent writers of one ref cannot lose an update silently.
    /// Returns the new object's ETag.
    @discardableResult
    func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String

    /// Reads an object, or a byte range of it, with the ETag of the version read: one request that
    /// both reads a ref and carries its compare-and-swap token. Throws `BlobStoreError.notFound` when
    /// absent and `.invalidRange` when the range starts past the end.
    func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob

    /// Size and ETag of an object, or nil when it does not exist.
    func head(_ key: ObjectKey) async throws -> ObjectInfo?

    /// One page of keys starting with `prefix`, in lexicographic order. Pass the previous page's
    /// `continuation` to get the next; a nil `continuation` in the result means the listing is complete.
    func list(prefix: String, continuation: String?) async throws -> ListPage

    /// Deletes objects; keys that do not exist are not an error. Backends batch as they can.
    func delete(_ keys: [ObjectKey]) async throws
}

extension BlobStore {
    /// Unconditional put.
    @discardableResult
    public func put(_ key: ObjectKey, _ bytes: [UInt8]) async throws -> String {
        try await put(key, bytes, condition: .none)
    }

    /// The bytes of an object or of a range of it.
    public func get(_ key: ObjectKey, range: ByteRange?) async throws -> [UInt8] {
        try await read(key, range: range).bytes
    }

    /// Whole-object get.
    public func get(_ key: ObjectKey) async throws -> [UInt8] {
        try await read(key, range: nil).bytes
    }

    /// A whole object with its ETag, or nil when it does not exist.
    public func readIfPresent(_ key: ObjectKey) async throws -> Blob? {
        do { return try await read(key, range: nil) } catch BlobStoreError.notFound { return nil }
    }

    /// Every object under `prefix`, following continuations (memory grows with the result: use
    /// `list(prefix:continuation:)` directly to stream very large listings).
    public func listAll(prefix: String) async throws -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        var token: String? = nil
        repeat {
            let page = try await list(prefix: prefix, continuation: token)
            out.append(contentsOf: page.objects)
            token = page.continuation
        } while token != nil
        return out
    }
}

/// Conditions for `BlobStore.put`.
public enum WriteCondition: Sendable, Equatable {
    case none
    /// Only create: fail if the object exists (S3 `If-None-Match: *`).
    case ifAbsent
    /// Only replace the version with this ETag (S3 `If-Match`).
    case ifMatch(String)
}

/// What `BlobStore.read` returns: the bytes and the ETag of the object version they came from.
public struct Blob: Sendable {
    public var bytes: [UInt8]
    public var etag: String

    public init(bytes: [UInt8], etag: String) {
        self.bytes = bytes
        self.etag = etag
    }
}

/// A byte range of an object: `length == nil` reads to the end.
public struct ByteRange: Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var length: Int?

    public init(offset: Int, length: Int?) {
        precondition(offset >= 0 && (length ?? 0) >= 0, "byte ranges are non-negative")
        self.offset = offset
        self.length = length
    }

    public var description: String { length.map { "bytes \(offset)-\(offset + $0 - 1)" } ?? "bytes \(offset)-" }
}

/// What `head` and `list` report about an object.
public struct ObjectInfo: Sendable, Equatable {
    public var key: ObjectKey
    public var size: Int
    public var etag: String
    public var lastModified: Date?

    public init(key: ObjectKey, size: Int, etag: String, lastModified: Date?) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
    }
}

/// One page of a listing.
public struct ListPage: Sendable {
    public var objects: [ObjectInfo]
    public var continuation: String?

    public init(objects: [ObjectInfo], continuation: String?) {
        self.objects = objects
        self.continuation = continuation
    }
}

/// Errors every backend reports in these terms, so decorators and callers need not know the backend.
public enum BlobStoreError: Error, CustomStringConvertible, Sendable {
    case notFound(ObjectKey)
    case preconditionFailed(ObjectKey)
    case invalidRange(ObjectKey, ByteRange)
    /// A fault that may pass: 5xx, throttling, timeouts, resets. `RetryingBlobStore` retries these.
    case transient(String)
    /// Credentials, permissions, a missing bucket, a malformed request: retrying cannot help.
    case permanent(String)
    /// The store returned bytes that do not match their name.
    case corrupt(ObjectKey, String)

    public var description: String {
        switch self {
        case .notFound(let k): "object not found: \(k)"
        case .preconditionFailed(let k): "conditional write failed (object changed concurrently): \(k)"
        case .invalidRange(let k, let r): "range not satisfiable: \(r) of \(k)"
        case .transient(let m): m
        case .permanent(let m): m
        case .corrupt(let k, let m): "corrupt object \(k): \(m)"
        }
    }

    /// Whether an operation that failed this way may succeed if tried again.
    public var isRetryable: Bool {
        if case .transient = self { return true }
        return false
    }
}
