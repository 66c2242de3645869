import Synchronization
import TroveStorage

/// A store that passes every call to `base`, with the hooks tests use to observe, order, delay or fail
/// them: an outage switch, a hook ahead of every call, hooks around puts and reads, and read counts.
/// The one test wrapper of a `BlobStore` (fault injection, interleavings, request counting).
public final class HookedStore: BlobStore {
    /// Runs ahead of every call with its number (from 0) and a description (`put <key>`, `get <key>`,
    /// `head <key>`, `list <prefix>`, `delete <count>`).
    public typealias Before = @Sendable (_ call: Int, _ description: String) async -> Void
    /// Runs instead of a put; `write` performs the real put. It may delay, record or fail it.
    public typealias PutHook = @Sendable (_ key: ObjectKey, _ write: @Sendable () async throws -> String) async throws -> String
    /// Runs instead of a read; `read` performs the real read. It may hold, record or fail it.
    public typealias ReadHook = @Sendable (_ key: ObjectKey, _ read: @Sendable () async throws -> Blob) async throws -> Blob

    public let base: any BlobStore
    /// While true, every call fails as a transient error (a simulated outage) before any hook runs.
    public let down = Atomic<Bool>(false)
    private let before: Before?
    private let putHook: PutHook?
    private let readHook: ReadHook?
    private let calls = Atomic<Int>(0)
    private let readCounts = Mutex<[String: Int]>([:])
    private let readBytes = Mutex<[String: Int]>([:])
    private let listCount = Atomic<Int>(0)

    public init(_ base: any BlobStore, before: Before? = nil, put: PutHook? = nil, read: ReadHook? = nil) {
        self.base = base
        self.before = before
        self.putHook = put
        self.readHook = read
    }

    public var displayName: String { base.displayName }

    /// How many reads of `key` were asked for (outages included).
    public func reads(_ key: ObjectKey) -> Int { readCounts.withLock { $0[key.rawValue] ?? 0 } }
    /// Reads of keys starting with `prefix` ("" for all of them).
    public func reads(prefix: String) -> Int { readCounts.withLock { $0.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) } }
    /// Bytes returned by reads of keys starting with `prefix`.
    public func bytesRead(prefix: String) -> Int { readBytes.withLock { $0.filter { $0.key.hasPrefix(prefix) }.values.reduce(0, +) } }
    /// LIST pages asked for.
    public var lists: Int { listCount.load(ordering: .relaxed) }
    /// Every read and LIST page: the requests a reader (serve, export) made.
    public var requests: Int { reads(prefix: "") + lists }

    private func enter(_ description: @autoclosure () -> String) async throws {
        if down.load(ordering: .relaxed) { throw BlobStoreError.transient("simulated outage") }
        if let before { await before(calls.wrappingAdd(1, ordering: .relaxed).oldValue, description()) }
    }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        try await enter("put \(key)")
        let base = base
        let write: @Sendable () async throws -> String = { try await base.put(key, bytes, condition: condition) }
        if let putHook { return try await putHook(key, write) }
        return try await write()
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        readCounts.withLock { $0[key.rawValue, default: 0] += 1 }
        try await enter("get \(key)")
        let base = base
        let read: @Sendable () async throws -> Blob = { try await base.read(key, range: range) }
        let blob: Blob
        if let readHook { blob = try await readHook(key, read) } else { blob = try await read() }
        readBytes.withLock { $0[key.rawValue, default: 0] += blob.bytes.count }
        return blob
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        try await enter("head \(key)")
        return try await base.head(key)
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        listCount.add(1, ordering: .relaxed)
        try await enter("list \(prefix)")
        return try await base.list(prefix: prefix, continuation: continuation)
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        try await enter("delete \(keys.count)")
        try await base.delete(keys)
    }
}
