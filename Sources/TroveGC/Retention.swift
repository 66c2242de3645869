import Foundation
import TroveContent
import TroveRepository
import TroveStorage

/// Which previous builds of a version stay live (for rollback): the newest `keepBuilds` builds
/// (the current one included), and any build published within `keepWithin`. The current build is
/// always live. Set per store with `gc.keep_builds` / `gc.keep_within`.
public struct RetentionPolicy: Sendable, Codable, Equatable {
    public var keepBuilds: Int
    /// Seconds; nil keeps no build for its age alone.
    public var keepWithinSeconds: Double?

    public init(keepBuilds: Int = 5, keepWithin: Duration? = .seconds(7 * 86400)) {
        self.keepBuilds = max(1, keepBuilds)
        self.keepWithinSeconds = keepWithin.map { $0.seconds }
    }

    /// The history entries (newest first) this policy keeps.
    public func retained(_ ref: VersionRef, now: Date = Date()) -> [VersionRef.Build] {
        let parser = ISO8601DateFormatter()
        var seen: Set<Digest> = [ref.current.manifest]
        var out: [VersionRef.Build] = []
        for (i, b) in ref.history.enumerated() {
            guard seen.insert(b.manifest).inserted else { continue }
            var keep = i + 1 < keepBuilds
            if !keep, let within = keepWithinSeconds {
                // A build whose time cannot be read is kept: retention never guesses in favour of deleting.
                if let t = parser.date(from: b.published) { keep = now.timeIntervalSince(t) <= within } else { keep = true }
            }
            if keep { out.append(b) }
        }
        return out
    }
}

/// A version ref as gc saw it.
struct VersionRoot: Sendable {
    var project: String
    var version: String
    var ref: VersionRef
    var etag: String
    var manifests: [Digest] { [ref.current.manifest] + ref.history.map(\.manifest) }
}

/// Everything that keeps builds live: version refs (current + retained history) and aliases that
/// name a manifest directly.
struct Roots: Sendable {
    var versions: [VersionRoot] = []
    var aliasManifests: [(String, Digest)] = []
    /// Journals of unfinished publishes (listed with the refs: they live under `refs/<project>/`).
    var journals: [ObjectInfo] = []
    /// Version refs that do not decode (only with `readRoots(tolerateMalformed: true)`).
    var malformed: [MalformedRef] = []
    var all: [Digest] {
        var seen = Set<Digest>()
        return (versions.flatMap(\.manifests) + aliasManifests.map(\.1)).filter { seen.insert($0).inserted }
    }
}

extension Repository {
    /// Reads every version ref and alias under `refs/` (one listing, then the documents, 16 at a time).
    /// A ref that does not decode throws, so gc never sweeps while it cannot tell what a ref keeps live;
    /// `tolerateMalformed` (for `verify`) lists it in `malformed` instead and reads on.
    func readRoots(parallelism: Int = 16, tolerateMalformed: Bool = false) async throws -> Roots {
        var roots = Roots()
        var entries: [(RefEntry, ObjectInfo)] = []
        var token: String? = nil
        repeat {
            let page = try await store.list(prefix: StoreLayout.refsPrefix, continuation: token)
            token = page.continuation
            for o in page.objects {
                switch StoreLayout.refEntry(o.key) {
                case .journal?: roots.journals.append(o)
                case let e?: entries.append((e, o))
                case nil: continue
                }
            }
        } while token != nil
        enum Read: Sendable { case version(VersionRoot), alias(String, Digest), malformed(MalformedRef), none }
        let reads = try await withThrowingTaskGroup(of: (Int, Read).self) { group in
            var next = 0
            func add() {
                guard next < entries.count else { return }
                let (entry, object) = entries[next]
                let i = next
                next += 1
                group.addTask {
                    switch entry {
                    case .version(let project, let version):
                        let read: RefRead?
                        do { read = try await self.ref(project, version) } catch RepositoryError.malformedRef(let key, let why) where tolerateMalformed {
                            return (i, .malformed(MalformedRef(key: key, version: version, reason: why)))
                        }
                        guard let r = read else { return (i, .none) }
                        return (i, .version(VersionRoot(project: project, version: version, ref: r.ref, etag: r.etag)))
                    case .alias(let project, let alias):
                        // An alias names a version (kept live by its own ref); one that pins a manifest keeps that build.
                        guard let bytes = try? await self.store.get(object.key),
                              let d = AliasRef.pinnedManifest(bytes) else { return (i, .none) }
                        return (i, .alias("\(project)/\(alias)", d))
                    case .journal:
                        return (i, .none)
                    }
                }
            }
            for _ in 0..<max(1, parallelism) { add() }
            var out = [Read](repeating: .none, count: entries.count)
            while let (i, r) = try await group.next() {
                out[i] = r
                add()
            }
            return out
        }
        for r in reads {
            switch r {
            case .version(let v): roots.versions.append(v)
            case .alias(let name, let d): roots.aliasManifests.append((name, d))
            case .malformed(let m): roots.malformed.append(m)
            case .none: continue
            }
        }
        return roots
    }

    /// Rewrites a version ref by compare-and-swap: `transform` gets the current ref and returns the
    /// new one (nil: leave it). Retries on concurrent switches. Returns the ref as written, or nil.
    @discardableResult
    func updateRef(_ project: String, _ version: String, attempts: Int = 20,
                   _ transform: (VersionRef) throws -> VersionRef?) async throws -> VersionRef? {
        let key = try StoreLayout.versionRef(project, version)
        for _ in 0..<attempts {
            guard let existing = try await ref(project, version) else { return nil }
            guard let next = try transform(existing.ref), next != existing.ref else { return nil }
            do {
                try await store.put(key, next.encoded(), condition: .ifMatch(existing.etag))
                return next
            } catch BlobStoreError.preconditionFailed {
                if let now = try await ref(project, version), now.ref == next { return next }
            }
        }
        throw RepositoryError.concurrentPublish(project, version)
    }
}

/// `trove delete` and `trove rollback`.
public enum VersionAdmin {
    /// Removes a version (its ref; its blobs are collected by gc). Refuses while an alias names it, unless `force`.
    /// Returns the ref that was deleted.
    @discardableResult
    public static func delete(_ repository: Repository, project: String, version: String, force: Bool = false) async throws -> VersionRef {
        guard let existing = try await repository.ref(project, version) else { throw RepositoryError.noSuchVersion(project, version) }
        if !force {
            // An alias that does not decode names no version: it does not hold the delete back.
            for o in try await repository.store.listAll(prefix: try StoreLayout.aliasesPrefix(project)) {
                guard let bytes = try? await repository.store.get(o.key),
                      let alias = try? AliasRef.decode(bytes, key: o.key.rawValue) else { continue }
                if alias.version == version {
                    throw AdminError.aliased("\(project)/\(version) is the target of alias \(o.key.segments.last ?? ""); move the alias or pass --force")
                }
            }
        }
        try await repository.store.delete([try StoreLayout.versionRef(project, version)])
        return existing.ref
    }

    /// Switches `current` back to a previous build (default: the one before it) by compare-and-swap.
    /// `build` is a manifest digest (or a unique prefix of at least 6 hex digits) or `N` for the N-th
    /// previous build. The build rolled back from is kept in history, so a rollback can be undone.
    @discardableResult
    public static func rollback(_ repository: Repository, project: String, version: String, to build: String? = nil) async throws -> (from: VersionRef.Build, to: VersionRef.Build) {
        var result: (VersionRef.Build, VersionRef.Build)? = nil
        let written = try await repository.updateRef(project, version) { ref in
            let target = try pick(build, in: ref)
            var next = ref
            next.history.removeAll { $0.manifest == target.manifest }
            next.history.insert(ref.current, at: 0)
            next.current = target
            result = (ref.current, target)
            return next
        }
        guard written != nil, let result else {
            if try await repository.ref(project, version) == nil { throw RepositoryError.noSuchVersion(project, version) }
            throw AdminError.noSuchBuild("nothing to roll back to")
        }
        return result
    }

    static func pick(_ build: String?, in ref: VersionRef) throws -> VersionRef.Build {
        guard !ref.history.isEmpty else { throw AdminError.noSuchBuild("\(ref.project)/\(ref.version) has no previous build to roll back to") }
        guard let build else { return ref.history[0] }
        if let n = Int(build), n >= 1, n <= 1000 {
            guard n <= ref.history.count else { throw AdminError.noSuchBuild("\(ref.project)/\(ref.version) keeps only \(ref.history.count) previous builds") }
            return ref.history[n - 1]
        }
        let p = build.lowercased()
        guard p.count >= 6, p.allSatisfy(\.isHexDigit) else { throw AdminError.noSuchBuild("--to takes a manifest digest (6+ hex digits) or N for the N-th previous build, got \(build)") }
        let matches = ref.history.filter { $0.manifest.hex.hasPrefix(p) }
        guard matches.count == 1 else {
            throw AdminError.noSuchBuild(matches.isEmpty ? "no previous build of \(ref.project)/\(ref.version) matches \(build)" : "\(build) is ambiguous")
        }
        return matches[0]
    }
}

public enum AdminError: Error, CustomStringConvertible {
    case aliased(String)
    case noSuchBuild(String)
    public var description: String {
        switch self { case .aliased(let m), .noSuchBuild(let m): m }
    }
}
