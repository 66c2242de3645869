import TroveStorage

/// A store that passes every operation to `base` and every put through `hook`, which may delay, record
/// or fail it (`write` performs the real put). The publish tests build their fault and order probes on it.
struct PutHookStore: BlobStore {
    let base: any BlobStore
    let hook: @Sendable (_ key: ObjectKey, _ write: @Sendable () async throws -> String) async throws -> String

    var displayName: String { base.displayName }

    func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        try await hook(key) { try await base.put(key, bytes, condition: condition) }
    }

    func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob { try await base.read(key, range: range) }
    func head(_ key: ObjectKey) async throws -> ObjectInfo? { try await base.head(key) }
    func list(prefix: String, continuation: String?) async throws -> ListPage { try await base.list(prefix: prefix, continuation: continuation) }
    func delete(_ keys: [ObjectKey]) async throws { try await base.delete(keys) }
}
