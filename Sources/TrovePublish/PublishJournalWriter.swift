import Foundation
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Resuming from the journals (`PublishJournal`) of unfinished publishes of a version: the packs they
/// uploaded are reused, not uploaded again. A re-run reads each journal (one GET; found in the
/// project's LIST, `Repository.listProject`) and the trailer of each pack they name (one ranged GET
/// per pack, not one request per chunk), and seeds its dedup index with the chunks found. A journal
/// is deleted once its publish (or a later one of the same version) has switched the ref.
extension PublishJournal {
    /// What the journals of unfinished publishes of a version hold.
    public struct Resumed: Sendable {
        /// The journals read (deleted after a successful switch).
        public var journals: [ObjectKey] = []
        /// Packs whose trailers were read.
        public var packs = 0
        /// Chunks in those packs, with where they are stored.
        public var chunks: [(Digest, ChunkLocation)] = []
    }

    /// Reads `journals` (the version's, as listed) concurrently, then the trailers of the packs the ones
    /// younger than `maxAge` name. Packs that have disappeared and journals that do not parse are
    /// skipped (they only save work).
    public static func resume(_ store: any BlobStore, journals: [ObjectKey],
                              maxAge: Duration = trustedFor, parallelism: Int = 16) async throws -> Resumed {
        var out = Resumed()
        guard !journals.isEmpty else { return out }
        var records: [Digest: PackRecord] = [:]
        let oldest = Date().addingTimeInterval(-Double(maxAge.components.seconds))
        let iso = ISO8601DateFormatter()
        let read = try await withThrowingTaskGroup(of: (ObjectKey, PublishJournal?)?.self) { group in
            for key in journals {
                group.addTask {
                    guard let blob = try await store.readIfPresent(key) else { return nil }
                    return (key, PublishJournal.decode(blob.bytes))
                }
            }
            var all: [(ObjectKey, PublishJournal?)] = []
            for try await r in group { if let r { all.append(r) } }
            return all.sorted { $0.0 < $1.0 }
        }
        for (key, journal) in read {
            guard let j = journal, let started = iso.date(from: j.started) else { continue }
            out.journals.append(key)
            guard started >= oldest else { continue }
            for r in j.packs {
                if let d = Digest(hex: r.pack), r.trailer > PackWriter.footerSize, r.trailer <= r.size { records[d] = r }
            }
        }
        let todo = records.sorted { $0.key < $1.key }
        try await withThrowingTaskGroup(of: [(Digest, ChunkLocation)]?.self) { group in
            var next = 0
            func add() {
                guard next < todo.count else { return }
                let (pack, r) = todo[next]
                next += 1
                group.addTask {
                    let tail: [UInt8]
                    do {
                        tail = try await store.get(StoreLayout.pack(pack), range: ByteRange(offset: r.size - r.trailer, length: r.trailer))
                    } catch BlobStoreError.notFound {
                        return nil
                    } catch BlobStoreError.invalidRange {
                        return nil
                    }
                    guard tail.count == r.trailer, let entries = try? PackReader.entries(fromTail: tail, packSize: r.size, pack: pack) else { return nil }
                    return entries.map { ($0.digest, $0.location) }
                }
            }
            for _ in 0..<parallelism { add() }
            while let result = try await group.next() {
                if let result {
                    out.packs += 1
                    out.chunks += result
                }
                add()
            }
        }
        return out
    }
}

/// Writes a publish's journal (`PublishJournal`) as packs are uploaded: rewritten whole (one small PUT) after every
/// `everyPacks` new packs, or after `interval` when at least one pack is new, so a publish that ends
/// quickly writes none. Writes are best-effort: the journal only saves work on a re-run.
actor PublishJournalWriter {
    let store: any BlobStore
    let key: ObjectKey
    let everyPacks: Int
    let interval: Duration
    private var journal: PublishJournal
    private var unflushed = 0
    private var lastFlush = ContinuousClock.now
    private var flushing = false
    /// Whether a journal object may exist in the store (it was written at least once).
    private(set) var written = false

    init(store: any BlobStore, project: String, version: String, tool: String, everyPacks: Int = 16,
         interval: Duration = .seconds(10)) throws {
        self.store = store
        var id = ""
        for _ in 0..<16 { id += String(UInt8.random(in: 0...15), radix: 16) }
        key = try StoreLayout.journal(project, version, id: id)
        self.everyPacks = max(1, everyPacks)
        self.interval = interval
        journal = PublishJournal(project: project, version: version, started: ISO8601DateFormatter().string(from: Date()), tool: tool)
    }

    /// Notes one uploaded pack; writes the journal when enough is new.
    func uploaded(_ pack: Digest, size: Int, trailer: Int) async {
        journal.packs.append(.init(pack: pack.hex, size: size, trailer: trailer))
        unflushed += 1
        guard unflushed >= everyPacks || ContinuousClock.now - lastFlush >= interval else { return }
        await flush(all: false)
    }

    /// Writes what is not yet in the stored journal: everything (`all`, used when a publish fails, so a
    /// re-run can resume), or as long as a full batch is pending.
    func flush(all: Bool = true) async {
        guard !flushing else { return }
        flushing = true
        defer { flushing = false }
        while all ? unflushed > 0 : unflushed >= everyPacks || (unflushed > 0 && ContinuousClock.now - lastFlush >= interval) {
            let snapshot = journal, count = unflushed
            unflushed = 0
            lastFlush = ContinuousClock.now
            do {
                written = true
                _ = try await store.put(key, snapshot.encoded())
            } catch {
                unflushed += count
                return
            }
        }
    }

    /// Deletes the journal (after the ref switch); best-effort, gc expires leftovers.
    func remove(alsoConsumed others: [ObjectKey]) async {
        let keys = (written ? [key] : []) + others.filter { $0 != key }
        guard !keys.isEmpty else { return }
        try? await store.delete(keys)
    }
}
