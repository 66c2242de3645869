import Synchronization

/// Counts of store requests by kind, and bytes moved: the bill, shown in every command's summary.
public struct RequestCounts: Sendable, Codable, Equatable {
    public var puts = 0, gets = 0, heads = 0, lists = 0, deletes = 0
    public var bytesUp = 0, bytesDown = 0
    public var total: Int { puts + gets + heads + lists + deletes }
    public init() {}
}

/// Counts every request that reaches the wrapped store (wrap it inside the retrying decorator to
/// count attempts, outside to count logical operations).
public final class MeteredBlobStore: BlobStore {
    public let base: any BlobStore
    private let counts = Mutex(RequestCounts())

    public init(_ base: any BlobStore) { self.base = base }

    public var displayName: String { base.displayName }

    /// A snapshot of the counts so far.
    public var snapshot: RequestCounts { counts.withLock { $0 } }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        counts.withLock { $0.puts += 1; $0.bytesUp += bytes.count }
        return try await base.put(key, bytes, condition: condition)
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        counts.withLock { $0.gets += 1 }
        let out = try await base.read(key, range: range)
        counts.withLock { $0.bytesDown += out.bytes.count }
        return out
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        counts.withLock { $0.heads += 1 }
        return try await base.head(key)
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        counts.withLock { $0.lists += 1 }
        return try await base.list(prefix: prefix, continuation: continuation)
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        counts.withLock { $0.deletes += 1 }
        try await base.delete(keys)
    }
}
