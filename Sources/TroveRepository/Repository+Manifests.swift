import Foundation
import TroveContent
import TroveManifest
import TroveStorage

/// A manifest built and compressed but not yet stored (`Repository.prepareManifest`).
public struct PreparedManifest: Sendable {
    public let digest: Digest
    /// The object to store: the SQLite bytes as one zstd frame (`ManifestCodec`).
    public let object: [UInt8]
    /// The SQLite file, in the cache directory, renamed into the cache once stored.
    let scratch: String
}

extension Repository {
    /// Writes a manifest for `tree` (records in path order, each with its chunks), stores it under its
    /// digest (zstd-compressed, see `ManifestCodec`) and keeps a copy in the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> (Digest, Int) {
        try await storeManifest(try await prepareManifest(tree: tree, metadata: metadata))
    }

    /// Builds and compresses a manifest without storing it, so a caller can build it while the packs it
    /// names are still being written, and store it once they are durable. Follow with `storeManifest(_:)`
    /// or `discard(_:)`.
    public func prepareManifest(tree: [(FileRecord, [ChunkRef])], metadata: ManifestMetadata) async throws -> PreparedManifest {
        try await prepareManifest(entries: tree.map { ($0.0, .located($0.1)) }, metadata: metadata) { d in
            throw RepositoryError.corrupt("chunk \(d.hex) has no location")
        }
    }

    /// `prepareManifest(tree:metadata:)` for entries (in path order) whose new chunks are located by
    /// `locate` as the manifest is written. With `treeDigest`, `metadata.treeDigest` is computed from the
    /// entries meanwhile, on another core.
    ///
    /// On dedicated threads, never the blocking-I/O pool (where the last packs may be fsyncing): one lays
    /// out the pages (`ManifestWriter`) while another computes the tree digest; then one compresses
    /// while the other hashes the SQLite bytes and writes them to the cache directory.
    public func prepareManifest(entries: [(FileRecord, ManifestChunks)], metadata: ManifestMetadata, treeDigest: Bool = false,
                                locate: @escaping @Sendable (Digest) throws -> ChunkLocation) async throws -> PreparedManifest {
        // Built where the cache keeps manifests, then renamed into the cache under its digest once
        // stored: one file written, not a scratch file plus a copy.
        let dir = cacheDirectory.appendingPathComponent("manifests").path
        let scratch = dir + "/build-\(UUID().uuidString).sqlite"
        return try await DedicatedThread.run {
            let records = treeDigest ? DedicatedThread.Fork { TreeDigest.compute(entries.lazy.map(\.0)) } : nil
            var chunks = 0
            for e in entries {
                switch e.1 {
                case .none: break
                case .located(let refs): chunks += refs.count
                case .digests(let list): chunks += list.count
                }
            }
            let writer = ManifestWriter(expectedFiles: entries.count, expectedChunks: chunks)
            var meta = metadata
            let bytes: [UInt8]
            do {
                for (record, chunks) in entries { try writer.add(record, chunks: chunks, locate: locate) }
                if let records { meta.treeDigest = try records.join() }
                bytes = try writer.finish(meta)
            } catch {
                _ = try? records?.join()
                throw error
            }
            let cached = DedicatedThread.Fork { () throws -> Digest in
                try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try ManifestWriter.createFile(scratch, bytes)
                return Digest.sha256(bytes)
            }
            let object: [UInt8]
            do {
                object = try ManifestCodec.encode(bytes)
            } catch {
                _ = try? cached.join()
                unlink(scratch)
                throw error
            }
            do {
                return PreparedManifest(digest: try cached.join(), object: object, scratch: scratch)
            } catch {
                unlink(scratch)
                throw error
            }
        }
    }

    /// Stores a prepared manifest under its digest and moves its SQLite file into the local cache.
    /// Returns the digest and the stored size.
    public func storeManifest(_ prepared: PreparedManifest) async throws -> (Digest, Int) {
        do {
            try await store.put(StoreLayout.manifest(prepared.digest), prepared.object)
        } catch {
            discard(prepared)
            throw error
        }
        let path = manifestCachePath(prepared.digest)
        try await BlockingIO.run {
            if rename(prepared.scratch, path) != 0 { unlink(prepared.scratch) }
        }
        return (prepared.digest, prepared.object.count)
    }

    /// Removes a prepared manifest that will not be stored.
    public func discard(_ prepared: PreparedManifest) {
        unlink(prepared.scratch)
    }
}

extension Repository {
    /// What changed from version `base` to version `head` of a project (`VersionDiff`), from the two
    /// live manifests alone: works on every store, reads no pack. `trove diff` and the serve API use it.
    public func diff(_ project: String, base: String, head: String) async throws -> VersionDiff {
        let b = try await openVersion(project, base)
        let h = try await openVersion(project, head)
        return try await BlockingIO.run { try VersionDiff.between(base: b, head: h, baseName: base, headName: head) }
    }
}
