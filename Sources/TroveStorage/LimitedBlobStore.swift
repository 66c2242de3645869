/// Caps the number of requests in flight against the wrapped store; callers beyond the cap wait
/// (in FIFO order) without blocking a thread.
public struct LimitedBlobStore: BlobStore {
    public let base: any BlobStore
    let semaphore: AsyncSemaphore

    public init(_ base: any BlobStore, maxConcurrent: Int) {
        self.base = base
        semaphore = AsyncSemaphore(permits: max(1, maxConcurrent))
    }

    public var displayName: String { base.displayName }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        try await semaphore.with { try await base.put(key, bytes, condition: condition) }
    }
    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        try await semaphore.with { try await base.read(key, range: range) }
    }
    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        try await semaphore.with { try await base.head(key) }
    }
    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        try await semaphore.with { try await base.list(prefix: prefix, continuation: continuation) }
    }
    public func delete(_ keys: [ObjectKey]) async throws {
        try await semaphore.with { try await base.delete(keys) }
    }
}

/// A counting semaphore for async code.
public actor AsyncSemaphore {
    private var permits: Int
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(permits: Int) { self.permits = permits }

    public func acquire() async {
        if permits > 0 { permits -= 1; return }
        await withCheckedContinuation { waiters.append($0) }
    }

    public func release() {
        if waiters.isEmpty { permits += 1 } else { waiters.removeFirst().resume() }
    }

    public nonisolated func with<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        do {
            let r = try await body()
            await release()
            return r
        } catch {
            await release()
            throw error
        }
    }
}
