import Foundation
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// What a publish builds on, read from the store before it chunks anything: the version's ref (whose
/// ETag the final switch is conditioned on), the previous build and the project's other recent builds
/// (the dedup index), the project dictionary, the packs of unfinished publishes of this version, and
/// the shared cross-project index.
///
/// On object storage every read is a round trip, so they go out in as few rounds as the data allows:
/// the ref and one LIST of the project (versions, journals) at once; then the previous manifest, the
/// dictionary (the ref names it), the other versions' refs, the journals and the shared index at once;
/// then the other versions' manifests. A one-page rebuild from an empty cache reads 2 + 2 objects.
/// Only reads: `Repository.withPublishLease` may throw a baseline away and read it again.
struct PublishBaseline: Sendable {
    var previousRef: RefRead?
    var previous: Manifest?
    var others: [Manifest] = []
    var dictionary: ZstdDictionary?
    var resumed = PublishJournal.Resumed()
    var shared: [(Digest, ChunkLocation)]?

    static func load(_ repository: Repository, project: String, version: String, indexVersions: Int,
                     gcLock: Task<GCLockDocument?, any Error>) async throws -> PublishBaseline {
        // Round 1: the ref and the project's listing.
        async let refRead = repository.ref(project, version)
        async let listingRead = repository.listProject(project)
        let previousRef = try await refRead
        let listing = try await listingRead

        // Round 2: everything the ref and the listing name, at once.
        async let previousManifest = optionalManifest(repository, previousRef?.ref.current.manifest)
        async let previousDictionary = optionalDictionary(repository, previousRef?.ref.current.dictionary)
        async let resumed = PublishJournal.resume(repository.store, journals: listing.journals.filter { $0.version == version }.map(\.object.key))
        async let shared = SharedIndex.load(from: repository, digest: try await gcLock.value?.sharedIndex)
        // The most recently switched other versions (by the refs' modification times in the listing).
        let otherNames = listing.versions.filter { $0.name != version }
            .sorted { ($0.object.lastModified ?? .distantPast) > ($1.object.lastModified ?? .distantPast) }
            .prefix(max(0, indexVersions)).map(\.name)
        let otherRefs = try await concurrently(otherNames) { try await repository.ref(project, $0) }.compactMap { $0 }

        // Round 3: the other versions' manifests (and a dictionary only they name).
        async let others = concurrently(otherRefs) { try await repository.manifest($0.ref.current.manifest) }
        var dictionary = try await previousDictionary
        if dictionary == nil, previousRef?.ref.current.dictionary == nil,
           let named = otherRefs.lazy.compactMap(\.ref.current.dictionary).first {
            dictionary = try await repository.dictionary(named)
        }

        var out = PublishBaseline(previousRef: previousRef, previous: try await previousManifest)
        out.others = try await others
        out.resumed = try await resumed
        out.shared = try await shared
        // Refs written before they named their dictionary: the manifests' metadata does.
        if dictionary == nil, let named = ([out.previous] + out.others).lazy.compactMap({ $0?.metadata.dictionary }).first {
            dictionary = try await repository.dictionary(named)
        }
        out.dictionary = dictionary
        return out
    }

    private static func optionalManifest(_ repository: Repository, _ digest: Digest?) async throws -> Manifest? {
        guard let digest else { return nil }
        return try await repository.manifest(digest)
    }

    private static func optionalDictionary(_ repository: Repository, _ digest: Digest?) async throws -> ZstdDictionary? {
        guard let digest else { return nil }
        return try await repository.dictionary(digest)
    }

    /// `transform` applied to every element at once, results in input order.
    private static func concurrently<E: Sendable, R: Sendable>(_ items: some Collection<E>,
                                                               _ transform: @escaping @Sendable (E) async throws -> R) async throws -> [R] {
        try await withThrowingTaskGroup(of: (Int, R).self) { group in
            for (i, item) in items.enumerated() { group.addTask { (i, try await transform(item)) } }
            var out = [R?](repeating: nil, count: items.count)
            for try await (i, r) in group { out[i] = r }
            return out.map { $0! }
        }
    }
}
