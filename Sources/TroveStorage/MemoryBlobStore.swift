import Foundation
import Synchronization

/// An in-process store (`memory://`): for tests of the logic above storage, and for dry runs.
public final class MemoryBlobStore: BlobStore {
    private struct Object { var bytes: [UInt8]; var etag: String; var modified: Date }
    private let objects = Mutex<[ObjectKey: Object]>([:])
    private let counter = Atomic<Int>(0)

    public init() {}

    public var displayName: String { "memory://" }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        let etag = "\"m\(counter.wrappingAdd(1, ordering: .relaxed).newValue)\""
        try objects.withLock { objects in
            switch condition {
            case .none: break
            case .ifAbsent: if objects[key] != nil { throw BlobStoreError.preconditionFailed(key) }
            case .ifMatch(let tag): if objects[key]?.etag != tag { throw BlobStoreError.preconditionFailed(key) }
            }
            objects[key] = Object(bytes: bytes, etag: etag, modified: Date())
        }
        return etag
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        guard let object = objects.withLock({ $0[key] }) else { throw BlobStoreError.notFound(key) }
        return Blob(bytes: try slice(object.bytes, range, key: key), etag: object.etag)
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        objects.withLock { $0[key].map { ObjectInfo(key: key, size: $0.bytes.count, etag: $0.etag, lastModified: $0.modified) } }
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        let pageSize = 1000
        let all = objects.withLock { objects in
            objects.filter { $0.key.rawValue.hasPrefix(prefix) && (continuation == nil || $0.key.rawValue > continuation!) }
                .map { ObjectInfo(key: $0.key, size: $0.value.bytes.count, etag: $0.value.etag, lastModified: $0.value.modified) }
        }.sorted { $0.key < $1.key }
        let page = Array(all.prefix(pageSize))
        return ListPage(objects: page, continuation: all.count > pageSize ? page.last!.key.rawValue : nil)
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        objects.withLock { objects in for k in keys { objects[k] = nil } }
    }

    /// Test hook: replace an object's bytes behind the store's back (corruption tests).
    public func tamper(_ key: ObjectKey, _ transform: (inout [UInt8]) -> Void) {
        objects.withLock { objects in
            if var o = objects[key] { transform(&o.bytes); objects[key] = o }
        }
    }
}

/// Applies a byte range to a whole object with the semantics every backend shares.
func slice(_ bytes: [UInt8], _ range: ByteRange?, key: ObjectKey) throws -> [UInt8] {
    guard let range else { return bytes }
    guard range.offset < bytes.count || (range.offset == 0 && bytes.isEmpty) else {
        throw BlobStoreError.invalidRange(key, range)
    }
    let end = range.length.map { min(bytes.count, range.offset + $0) } ?? bytes.count
    return Array(bytes[range.offset..<end])
}
