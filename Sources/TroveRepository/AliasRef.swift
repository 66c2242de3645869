import Foundation
import TroveContent
import TroveStorage

/// The JSON document at `refs/<project>/aliases/<alias>`: a name (`latest`, `stable`) that resolves to
/// one of the project's versions. Written by `trove alias`, read by `trove serve`.
public struct AliasRef: RefDocument, Sendable, Equatable {
    public var format: Int = 1
    public var project: String
    public var alias: String
    /// The version the alias points at (a version name, never another alias).
    public var version: String
    /// When the alias was last set (ISO 8601, UTC).
    public var updated: String

    public init(project: String, alias: String, version: String, updated: String) {
        self.project = project
        self.alias = alias
        self.version = version
        self.updated = updated
    }

    /// The build an alias document pins, if it carries a `"manifest"` digest (`trove alias` writes
    /// none; gc keeps a pinned build live, docs/gc.md). Read from any JSON object with that field,
    /// whatever else it lacks: gc never guesses in favour of deleting.
    public static func pinnedManifest(_ bytes: [UInt8]) -> Digest? {
        struct Pin: Decodable { var manifest: String? }
        return (try? JSONDecoder().decode(Pin.self, from: Data(bytes)))?.manifest.flatMap { Digest(hex: $0) }
    }
}

extension Repository {
    /// An alias of a project, or nil when it is not set.
    public func alias(_ project: String, _ alias: String) async throws -> AliasRef? {
        let key = try StoreLayout.aliasRef(project, alias)
        do { return try AliasRef.decode(try await store.get(key), key: key.rawValue) }
        catch BlobStoreError.notFound { return nil }
    }

    /// Points `alias` at `version` (unconditional overwrite: the last writer wins, which is what
    /// re-pointing an alias means). The version must exist, and the alias must not shadow a version.
    @discardableResult
    public func setAlias(_ project: String, _ alias: String, to version: String, updated: String) async throws -> AliasRef {
        let key = try StoreLayout.aliasRef(project, alias)
        guard try await ref(project, version) != nil else { throw RepositoryError.noSuchVersion(project, version) }
        if try await ref(project, alias) != nil { throw AliasError.shadowsVersion(project, alias) }
        let a = AliasRef(project: project, alias: alias, version: version, updated: updated)
        try await store.put(key, a.encoded())
        return a
    }

    /// Removes an alias; returns whether it existed.
    @discardableResult
    public func removeAlias(_ project: String, _ alias: String) async throws -> Bool {
        let key = try StoreLayout.aliasRef(project, alias)
        guard try await store.head(key) != nil else { return false }
        try await store.delete([key])
        return true
    }

    /// Every alias of a project, sorted by name.
    public func aliases(of project: String) async throws -> [AliasRef] {
        let prefix = try StoreLayout.aliasesPrefix(project)
        var out: [AliasRef] = []
        for o in try await store.listAll(prefix: prefix) {
            do { out.append(try AliasRef.decode(try await store.get(o.key), key: o.key.rawValue)) }
            catch BlobStoreError.notFound { continue }
        }
        return out.sorted { $0.alias < $1.alias }
    }
}

public enum AliasError: Error, CustomStringConvertible {
    case shadowsVersion(String, String)
    public var description: String {
        switch self {
        case .shadowsVersion(let p, let a): "\(p) has a version named \(a); an alias of that name would never be used (versions win)"
        }
    }
}
