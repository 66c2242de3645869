import Synchronization
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Confirms that the packs a publish reuses chunks from are still in the store, so a manifest never
/// names a lost pack (issue: republishing over a missing pack must repair the build, not store a broken
/// one). One HEAD per pack, all in flight at once (the store's concurrency limit bounds them), started
/// as soon as the packs are known: the previous build's packs while the tree is walked and chunked,
/// any other reused pack once chunking has said which. A pack is good when it exists and is long enough
/// for every chunk reused from it.
final class PackPresence: Sendable {
    private let store: any BlobStore
    /// Pack → its size in the store (nil: absent), one probe per pack however often it is asked.
    private let probes = Mutex<[Digest: Task<Int?, any Error>]>([:])

    init(store: any BlobStore) { self.store = store }

    /// Starts probing `packs` without waiting for the answers.
    func prefetch(_ packs: some Sequence<Digest>) {
        probes.withLock { probes in
            for p in packs where probes[p] == nil {
                probes[p] = Task { [store] in try await store.head(StoreLayout.pack(p))?.size }
            }
        }
    }

    /// Records `packs` as known to be present (this publish uploaded them).
    func confirm(_ packs: some Sequence<Digest>) {
        probes.withLock { probes in
            for p in packs { probes[p] = Task { Int.max } }
        }
    }

    /// The packs of `needed` (pack → the end of the last chunk reused from it) that are absent or
    /// shorter than that end. Throws when the store cannot answer (a publish does not guess).
    func unusable(_ needed: [Digest: Int]) async throws -> Set<Digest> {
        prefetch(needed.keys)
        let tasks = probes.withLock { probes in needed.keys.map { ($0, probes[$0]!) } }
        var bad = Set<Digest>()
        for (pack, probe) in tasks {
            guard let size = try await probe.value, size >= needed[pack]! else {
                bad.insert(pack)
                continue
            }
        }
        return bad
    }

    /// Pack → the end of the last chunk of `outcomes` that `index` locates in it: what this run reuses.
    static func reused(by outcomes: [FileOutcome], in index: ChunkIndex) -> [Digest: Int] {
        var needed: [Digest: Int] = [:]
        for case .stored(_, _, let chunks, _) in outcomes {
            for (d, _) in chunks {
                guard let l = index.lookup(d) else { continue }
                let end = l.offset + l.storedSize
                if end > needed[l.pack, default: 0] { needed[l.pack] = end }
            }
        }
        return needed
    }
}
