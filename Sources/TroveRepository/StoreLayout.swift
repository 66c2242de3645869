import TroveContent
import TroveStorage

/// Where everything lives in a store (the bucket layout of docs/storage-format.md).
///
///     trove-store.json                      store format marker
///     packs/<d[0:2]>/<digest>               pack objects (chunk payloads + trailer)
///     manifests/<d[0:2]>/<digest>           one SQLite manifest per published build
///     dicts/<digest>                        zstd dictionaries
///     refs/<project>/versions/<version>     JSON ref: current manifest + history (switched by CAS)
///     refs/<project>/aliases/<alias>        JSON alias → version
///     refs/<project>/journals/<version>/<id>  JSON: packs uploaded by a publish not yet switched (docs/s3.md)
///     index/shared                          shared cross-project chunk index (SQLite, written by gc)
///     gc/lock, gc/leases/<id>               gc coordination (GCCoordination.swift, docs/gc.md)
///
/// A project's versions, aliases and unfinished-publish journals share the prefix `refs/<project>/`,
/// so a publish learns all three from one LIST. Every key is built here and nowhere else.
public enum StoreLayout {
    public static let marker: ObjectKey = "trove-store.json"
    public static let sharedIndex: ObjectKey = "index/shared"
    public static let packsPrefix = "packs/"
    public static let manifestsPrefix = "manifests/"
    public static let dictsPrefix = "dicts/"
    public static let refsPrefix = "refs/"
    /// The one gc lease (`GCLockDocument`).
    public static let gcLock: ObjectKey = "gc/lock"
    /// Where publishes in progress keep their leases (`PublishLeaseDocument`).
    public static let publishLeasePrefix = "gc/leases/"
    /// The lease of one publish in progress (`id`: a lowercase UUID).
    public static func publishLease(_ id: String) -> ObjectKey { try! ObjectKey(publishLeasePrefix + id) }

    public static func pack(_ d: Digest) -> ObjectKey { sharded(packsPrefix, d) }
    public static func manifest(_ d: Digest) -> ObjectKey { sharded(manifestsPrefix, d) }
    public static func dictionary(_ d: Digest) -> ObjectKey { try! ObjectKey(dictsPrefix + d.hex) }

    public static func versionRef(_ project: String, _ version: String) throws -> ObjectKey {
        try ObjectKey(try versionsPrefix(project) + Names.validate(version, what: "version"))
    }

    public static func aliasRef(_ project: String, _ alias: String) throws -> ObjectKey {
        try ObjectKey(try aliasesPrefix(project) + Names.validate(alias, what: "alias"))
    }

    /// Everything under one project: its versions, aliases and journals (`ProjectListing`).
    public static func projectPrefix(_ project: String) throws -> String {
        refsPrefix + (try Names.validate(project, what: "project")) + "/"
    }

    /// Every version ref of a project.
    public static func versionsPrefix(_ project: String) throws -> String {
        try projectPrefix(project) + "versions/"
    }

    /// Every alias of a project.
    public static func aliasesPrefix(_ project: String) throws -> String {
        try projectPrefix(project) + "aliases/"
    }

    /// Where the in-progress journals of publishes of one version live.
    public static func journalPrefix(_ project: String, _ version: String) throws -> String {
        try projectPrefix(project) + "journals/" + Names.validate(version, what: "version") + "/"
    }

    /// The in-progress journal of one publish run (`id`: random, lowercase hex).
    public static func journal(_ project: String, _ version: String, id: String) throws -> ObjectKey {
        try ObjectKey(try journalPrefix(project, version) + id)
    }

    /// What a key under `refs/` names, or nil for anything else (the one parser of the refs layout).
    public static func refEntry(_ key: ObjectKey) -> RefEntry? {
        let s = key.segments
        guard s.count >= 4, s[0] == "refs" else { return nil }
        let project = String(s[1])
        switch (s[2], s.count) {
        case ("versions", 4): return .version(project: project, version: String(s[3]))
        case ("aliases", 4): return .alias(project: project, alias: String(s[3]))
        case ("journals", 5): return .journal(project: project, version: String(s[3]), id: String(s[4]))
        default: return nil
        }
    }

    static func sharded(_ prefix: String, _ d: Digest) -> ObjectKey {
        let hex = d.hex
        return try! ObjectKey("\(prefix)\(hex.prefix(2))/\(hex)")
    }

    /// The digest named by a pack or manifest key, or nil for anything else.
    public static func digest(of key: ObjectKey) -> Digest? {
        guard let last = key.segments.last else { return nil }
        return Digest(hex: last)
    }
}

/// An object under `refs/`, by kind (`StoreLayout.refEntry`).
public enum RefEntry: Sendable, Equatable {
    case version(project: String, version: String)
    case alias(project: String, alias: String)
    case journal(project: String, version: String, id: String)
}

/// Project, version and alias names: 1–100 of `[A-Za-z0-9._-]`, starting with a letter or digit.
public enum Names {
    public static func validate(_ name: String, what: String) throws(NameError) -> String {
        let u = Array(name.utf8)
        guard (1...100).contains(u.count), u[0] != UInt8(ascii: "."), u[0] != UInt8(ascii: "-"), u[0] != UInt8(ascii: "_"),
              u.allSatisfy({ c in
                  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
              }) else {
            throw NameError(message: "invalid \(what) name \(name.debugDescription): use 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit")
        }
        return name
    }
}

public struct NameError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
