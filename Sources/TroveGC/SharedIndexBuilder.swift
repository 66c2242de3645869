import Foundation
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Rebuilds `index/shared` (chunks used by more than one project) like `SharedIndex.rebuild`, but
/// with the chunk → first-project map in a scratch SQLite database instead of memory, and skipped
/// when the set of current builds has not changed since the index was written (the index records
/// a digest of that set in its `tree_digest`).
public enum SharedIndexBuilder {
    /// The digest of the current builds the index is computed from.
    static func rootsDigest(_ roots: Roots) -> Digest {
        var h = SHA256Hasher()
        h.update(Array("trove-shared-index-v1\n".utf8))
        for v in roots.versions.sorted(by: { ($0.project, $0.version) < ($1.project, $1.version) }) {
            h.update(Array("\(v.project)\u{0}\(v.ref.current.manifest.hex)\n".utf8))
        }
        return h.finalize()
    }

    /// What `refresh` found or wrote.
    struct Refreshed {
        /// Chunks in the index (nil: a dry run that would rewrite it).
        var chunks: Int?
        var rebuilt: Bool
        /// The digest of the current index's SQLite bytes, for the gc lock (nil: none worth loading).
        var digest: Digest?
    }

    /// Rewrites the index unless it is current. Record the result's digest in the gc lock held.
    static func refresh(_ repository: Repository, roots: Roots, workDirectory: URL, toolVersion: String, dryRun: Bool) async throws -> Refreshed {
        let want = rootsDigest(roots)
        if let object = try? await repository.store.get(StoreLayout.sharedIndex),
           let bytes = try? ManifestCodec.decode(object, digest: nil, name: StoreLayout.sharedIndex.rawValue) {
            let path = workDirectory.appendingPathComponent("shared-current.sqlite").path
            let digest = Digest.sha256(bytes)
            let current: Int? = try await BlockingIO.run {
                defer { unlink(path) }
                try Data(bytes).write(to: URL(fileURLWithPath: path))
                guard let m = try? Manifest(path: path, digest: digest), m.metadata.treeDigest == want else { return nil }
                return m.metadata.chunkCount
            }
            if let n = current { return Refreshed(chunks: n, rebuilt: false, digest: n > 0 ? digest : nil) }
        } else if roots.versions.isEmpty {
            return Refreshed(chunks: 0, rebuilt: false, digest: nil)
        }
        if dryRun { return Refreshed(chunks: nil, rebuilt: false, digest: nil) }

        var sources: [(project: String, manifest: Manifest)] = []
        for v in roots.versions.sorted(by: { ($0.project, $0.version) < ($1.project, $1.version) }) {
            try Task.checkCancellation()
            sources.append((v.project, try await repository.manifest(v.ref.current.manifest)))
        }
        let dbPath = workDirectory.appendingPathComponent("shared-\(UUID().uuidString).sqlite").path
        // The scratch database and the index file are built on the blocking-I/O pool.
        let (bytes, total) = try await BlockingIO.run { [sources] in
            defer { unlink(dbPath) }
            let db = try SQLiteDatabase(path: dbPath, mode: .readWriteCreate)
            try db.execute("""
                PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768;
                CREATE TABLE owner(digest BLOB PRIMARY KEY, project TEXT NOT NULL, shared INTEGER NOT NULL DEFAULT 0,
                                   pack BLOB NOT NULL, offset INTEGER NOT NULL, stored INTEGER NOT NULL, raw INTEGER NOT NULL,
                                   codec INTEGER NOT NULL, dict BLOB) WITHOUT ROWID;
                BEGIN;
                """)
            let upsert = try db.prepare("""
                INSERT INTO owner(digest, project, pack, offset, stored, raw, codec, dict) VALUES (?,?,?,?,?,?,?,?)
                ON CONFLICT(digest) DO UPDATE SET shared = 1 WHERE owner.project != excluded.project
                """)
            for (project, m) in sources {
                try m.forEachChunk { d, loc in
                    upsert.bind(1, d)
                    upsert.bind(2, project)
                    upsert.bind(3, loc.pack)
                    upsert.bind(4, loc.offset)
                    upsert.bind(5, loc.storedSize)
                    upsert.bind(6, loc.rawSize)
                    upsert.bind(7, Int(loc.codec.rawValue))
                    upsert.bind(8, loc.dictionary)
                    try upsert.run()
                }
            }
            try db.execute("COMMIT")

            // One pseudo-file per 10,000 shared chunks; loaders read the `chunks` table whole.
            let writer = ManifestWriter()
            let sel = try db.prepare("SELECT digest, pack, offset, stored, raw, codec, dict FROM owner WHERE shared = 1 ORDER BY digest")
            var batch: [ChunkRef] = []
            var files = 0, total = 0
            func emit() throws {
                guard !batch.isEmpty else { return }
                files += 1
                let name = String(format: "shared-chunks-%06d", files)
                try writer.add(FileRecord(path: name, kind: .file, size: batch.reduce(0) { $0 + $1.location.rawSize }, mode: 0o644,
                                          contentType: nil, digest: nil, linkTarget: nil), chunks: batch)
                total += batch.count
                batch.removeAll(keepingCapacity: true)
            }
            while try sel.step() {
                guard let codec = Codec(rawValue: UInt8(sel.int(5))) else { continue }
                batch.append(ChunkRef(digest: try sel.digest(0), location: ChunkLocation(
                    pack: try sel.digest(1), offset: sel.int(2), storedSize: sel.int(3), rawSize: sel.int(4), codec: codec,
                    dictionary: try sel.optionalDigest(6))))
                if batch.count == 10_000 { try emit() }
            }
            try emit()
            var meta = ManifestMetadata(project: "shared-index", version: "1", buildTime: ISO8601DateFormatter().string(from: Date()),
                                        toolVersion: toolVersion, chunker: .default, dictionary: nil)
            meta.treeDigest = want
            return (try writer.finish(meta), total)
        }
        try await repository.store.put(StoreLayout.sharedIndex, try ManifestCodec.encode(bytes))
        return Refreshed(chunks: total, rebuilt: true, digest: total > 0 ? Digest.sha256(bytes) : nil)
    }
}

extension SharedIndexBuilder {
    /// Rebuilds `index/shared` outside a full gc run (`trove index rebuild`), under the gc lock so it can
    /// never publish an index naming a pack a concurrent gc is deleting. Returns the shared chunk count.
    public static func rebuild(_ repository: Repository, toolVersion: String) async throws -> Int {
        let lock = try await GCLock.acquire(repository.store, what: "trove index rebuild")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trove-index-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: work) }
        do {
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let roots = try await repository.readRoots()
            let refreshed = try await refresh(repository, roots: roots, workDirectory: work, toolVersion: toolVersion, dryRun: false)
            try await lock.recordSharedIndex(refreshed.digest)
            await lock.release()
            return refreshed.chunks ?? 0
        } catch {
            await lock.release()
            throw error
        }
    }
}
