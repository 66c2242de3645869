import Foundation
import TroveStorage

/// `trove-store.json`, the object that makes a directory or bucket prefix a Trove store.
///
/// Only `trove publish` and `trove init` write it; every other command refuses a location without
/// it, so a mistyped or empty store setting can never make gc delete digest-named files that happen
/// to lie under some other directory's `packs/`.
public enum StoreMarker {
    /// `{"format":1}`: the store format, like every other document's `format` (AliasRef, VersionRef).
    struct Document: Codable {
        var format = 1
    }

    /// Whether `store` carries a valid marker. A marker that is not Trove's is an error, not a "no".
    public static func isPresent(in store: any BlobStore) async throws -> Bool {
        guard let blob = try await store.readIfPresent(StoreLayout.marker) else { return false }
        guard let doc = try? JSONDecoder().decode(Document.self, from: Data(blob.bytes)), doc.format >= 1 else {
            throw StoreMarkerError.foreign(store.displayName)
        }
        guard doc.format == 1 else { throw StoreMarkerError.newerFormat(store.displayName, doc.format) }
        return true
    }

    /// Writes the marker unless it is there (a concurrent writer wins harmlessly). True when written.
    @discardableResult
    public static func create(in store: any BlobStore) async throws -> Bool {
        if try await isPresent(in: store) { return false }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        do {
            _ = try await store.put(StoreLayout.marker, Array(try enc.encode(Document())), condition: .ifAbsent)
            return true
        } catch BlobStoreError.preconditionFailed {
            return false
        }
    }

    /// Throws `StoreMarkerError.missing` unless `store` carries the marker.
    public static func require(in store: any BlobStore) async throws {
        guard try await isPresent(in: store) else { throw StoreMarkerError.missing(store.displayName) }
    }
}

public enum StoreMarkerError: Error, CustomStringConvertible {
    case missing(String)
    case foreign(String)
    case newerFormat(String, Int)

    public var description: String {
        switch self {
        case .missing(let s):
            "\(s) is not a Trove store (no \(StoreLayout.marker)): check the store setting; `trove publish` creates a store, and `trove init` marks an existing one (made before markers)"
        case .foreign(let s): "\(s) has a \(StoreLayout.marker) that is not a Trove store marker"
        case .newerFormat(let s, let v): "\(s) is a Trove store of format \(v), newer than this trove understands (1)"
        }
    }
}
