import Foundation
import Synchronization
import TroveContent
import TroveGC
import TroveManifest
import TrovePublish
import TroveRepository
import TroveStorage
import TroveTesting

func repository(_ store: any BlobStore) -> Repository {
    Repository(store: store, cacheDirectory: tempDir("cache"))
}

func publishOptions(threads: Int = 2) -> PublishOptions {
    var o = PublishOptions()
    o.chunker = ChunkerParameters(minSize: 512, avgSize: 2048, maxSize: 8192)
    o.packSize = 24 << 10
    o.threads = threads
    o.trainDictionary = false
    o.buildTime = Date(timeIntervalSince1970: 1_700_000_000)
    // The default TTL: a publish refuses to switch once its last renewal is TTL/2 old, and on a loaded
    // 2-core machine running every suite at once a renewal can be held up for many seconds.
    o.lease.ttl = .seconds(120)
    o.lease.renewEvery = .seconds(2)
    o.lease.pollEvery = .milliseconds(5)
    return o
}

@discardableResult
func publish(_ repo: Repository, _ project: String, _ version: String, _ tree: Tree, options: PublishOptions = publishOptions()) async throws -> PublishReport {
    let dir = tempDir("tree")
    defer { try? FileManager.default.removeItem(at: dir) }
    try writeTree(tree, to: dir)
    return try await Publisher(repository: repo, options: options).publish(project: project, version: version, from: dir.path)
}

func gcOptions(grace: Duration = .zero, compactBelow: Double = 0, keep: Int = 100, dryRun: Bool = false) -> GCOptions {
    var o = GCOptions()
    o.grace = grace
    o.compactBelow = compactBelow
    o.retention = RetentionPolicy(keepBuilds: keep, keepWithin: nil)
    o.dryRun = dryRun
    o.packSize = 24 << 10
    o.leaseWait = .seconds(10)
    o.leasePoll = .milliseconds(5)
    o.readerSettle = .zero
    o.workDirectory = tempDir("gcwork")
    return o
}

/// Every object with its ETag: two snapshots are equal when nothing was written or deleted.
func snapshot(_ store: any BlobStore) async throws -> [String: String] {
    var out: [String: String] = [:]
    for prefix in ["packs/", "manifests/", "dicts/", "refs/", "index/", "gc/"] {
        for o in try await store.listAll(prefix: prefix) { out[o.key.rawValue] = o.etag }
    }
    return out
}

/// Objects and bytes the store holds, everything included (refs, index, gc documents).
func storedBytes(_ store: any BlobStore, prefixes: [String] = ["packs/", "manifests/", "dicts/", "refs/", "index/", "gc/"]) async throws -> (objects: Int, bytes: Int) {
    var n = 0, bytes = 0
    for prefix in prefixes {
        for o in try await store.listAll(prefix: prefix) { n += 1; bytes += o.size }
    }
    return (n, bytes)
}

/// Distinct chunks (digest → stored size) a build uses.
func chunks(_ repo: Repository, _ manifest: Digest) async throws -> [Digest: ChunkLocation] {
    var out: [Digest: ChunkLocation] = [:]
    try await repo.manifest(manifest).forEachChunk { out[$0] = $1 }
    return out
}

/// A one-shot pause point: `wait()` blocks the caller that hits it until the test calls `resume()`;
/// the test learns it was hit (or that the run finished first) from `reached()`.
final class PausePoint: Sendable {
    private let reachedStream: AsyncStream<String>
    private let reachedCont: AsyncStream<String>.Continuation
    private let resumeStream: AsyncStream<Void>
    private let resumeCont: AsyncStream<Void>.Continuation
    private let fired = Atomic<Bool>(false)

    init() {
        (reachedStream, reachedCont) = AsyncStream.makeStream(of: String.self)
        (resumeStream, resumeCont) = AsyncStream.makeStream(of: Void.self)
    }

    /// Called by the paused party. Only the first call pauses.
    func hit(_ what: String) async {
        guard fired.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        reachedCont.yield(what)
        for await _ in resumeStream { break }
    }

    /// Called when the paused party finished without hitting the point.
    func finished() { reachedCont.yield("finished") }

    func reached() async -> String {
        for await s in reachedStream { return s }
        return "finished"
    }

    func resume() { resumeCont.yield(()); resumeCont.finish() }
}
