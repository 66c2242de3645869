import Foundation
import TestSupport
import Synchronization
import TroveContent
import TroveGC
import TroveManifest
import TrovePublish
import TroveRepository
import TroveStorage


func blob(_ seed: UInt64, _ size: Int) -> [UInt8] {
    var g = SplitMix(seed)
    var out = [UInt8](repeating: 0, count: size)
    var i = 0
    while i < size {
        var w = g.next()
        for _ in 0..<8 where i < size { out[i] = UInt8(truncatingIfNeeded: w); w >>= 8; i += 1 }
    }
    return out
}

typealias Tree = [String: [UInt8]]

func tempDir(_ name: String) -> URL {
    let u = FileManager.default.temporaryDirectory.appendingPathComponent("trove-gc-tests/\(name)-\(UUID().uuidString.prefix(8))")
    try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
    return u
}

func writeTree(_ tree: Tree, to dir: URL) throws {
    for (path, bytes) in tree {
        let u = dir.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: u.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: u)
    }
}

func readTree(_ dir: URL) throws -> Tree {
    var out: Tree = [:]
    let e = FileManager.default.enumerator(atPath: dir.path)!
    while let p = e.nextObject() as? String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.appendingPathComponent(p).path, isDirectory: &isDir), !isDir.boolValue {
            out[p] = Array(try Data(contentsOf: dir.appendingPathComponent(p)))
        }
    }
    return out
}

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

/// Exports a build through a fresh repository (no manifest cache) and reads it back.
func exported(_ store: any BlobStore, manifest: Digest) async throws -> Tree {
    let repo = repository(store)
    let dir = tempDir("export")
    defer { try? FileManager.default.removeItem(at: dir) }
    let m = try await repo.manifest(manifest)
    _ = try await Exporter(repository: repo).export(m, to: dir.path + "/out")
    return try readTree(dir.appendingPathComponent("out"))
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

/// Calls `before` ahead of every operation on the wrapped store (operation number, description).
final class HookedStore: BlobStore {
    let base: any BlobStore
    let before: @Sendable (Int, String) async -> Void
    private let counter = Atomic<Int>(0)

    init(_ base: any BlobStore, before: @escaping @Sendable (Int, String) async -> Void) {
        self.base = base
        self.before = before
    }

    var displayName: String { base.displayName }
    private func hook(_ s: String) async { await before(counter.wrappingAdd(1, ordering: .relaxed).oldValue, s) }

    func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        await hook("put \(key)")
        return try await base.put(key, bytes, condition: condition)
    }
    func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        await hook("get \(key)")
        return try await base.read(key, range: range)
    }
    func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        await hook("head \(key)")
        return try await base.head(key)
    }
    func list(prefix: String, continuation: String?) async throws -> ListPage {
        await hook("list \(prefix)")
        return try await base.list(prefix: prefix, continuation: continuation)
    }
    func delete(_ keys: [ObjectKey]) async throws {
        await hook("delete \(keys.count)")
        try await base.delete(keys)
    }
}
