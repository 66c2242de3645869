import Foundation
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// The in-progress journal of one publish run, at `journal/<project>/<version>/<id>`: the packs it has
/// uploaded so far (each with its size and trailer length), so that a re-run after a crash or kill
/// reuses them instead of uploading everything again. Packs are named by their digest and unreferenced
/// until the manifest is written, so without the journal a re-run could not find them short of
/// listing and reading every pack in the store.
///
/// A re-run lists the version's journals (one LIST), reads each (one GET) and the trailer of each pack
/// they name (one ranged GET per pack, not one request per chunk), and seeds its dedup index with the
/// chunks found. A journal is deleted once its publish (or a later one of the same version) has
/// switched the ref. gc must treat the packs named by a journal as live until the journal expires.
public struct PublishJournal: Codable, Sendable, Equatable {
    public struct PackRecord: Codable, Sendable, Equatable {
        /// The pack's digest (hex).
        public var pack: String
        /// Bytes of the whole pack object.
        public var size: Int
        /// Bytes of trailer plus footer at the pack's end: what one ranged GET reads back.
        public var trailer: Int
    }

    public var format = 1
    public var project: String
    public var version: String
    /// When the publish started (ISO 8601).
    public var started: String
    public var tool: String
    public var packs: [PackRecord] = []

    /// Journals older than this are ignored by publish (gc keeps journals and their packs for at least
    /// its grace period, 24 h by default, so a journal publish still trusts is never one gc has expired).
    public static let defaultMaxAge: Duration = .seconds(12 * 3600)

    public func encoded() -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return Array(try! enc.encode(self))
    }

    /// What the journals of unfinished publishes of a version hold.
    public struct Resumed: Sendable {
        /// The journals read (deleted after a successful switch).
        public var journals: [ObjectKey] = []
        /// Packs whose trailers were read.
        public var packs = 0
        /// Chunks in those packs, with where they are stored.
        public var chunks: [(Digest, ChunkLocation)] = []
    }

    /// Reads the journals of `project`/`version` younger than `maxAge` and the trailers of the packs they
    /// name. Packs that have disappeared and journals that do not parse are skipped (they only save work).
    public static func resume(_ repository: Repository, project: String, version: String,
                              maxAge: Duration = defaultMaxAge, parallelism: Int = 16) async throws -> Resumed {
        var out = Resumed()
        let store = repository.store
        var records: [Digest: PackRecord] = [:]
        let oldest = Date().addingTimeInterval(-Double(maxAge.components.seconds))
        let iso = ISO8601DateFormatter()
        for o in try await store.listAll(prefix: try StoreLayout.journalPrefix(project, version)) {
            let bytes: [UInt8]
            do { bytes = try await store.get(o.key) } catch BlobStoreError.notFound { continue }
            guard let j = try? JSONDecoder().decode(PublishJournal.self, from: Data(bytes)), j.format == 1,
                  let started = iso.date(from: j.started) else { continue }
            out.journals.append(o.key)
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
                    guard tail.count == r.trailer, let entries = try? PackReader.entries(fromTail: tail, packSize: r.size) else { return nil }
                    return entries.map {
                        ($0.digest, ChunkLocation(pack: pack, offset: $0.offset, storedSize: $0.storedSize, rawSize: $0.rawSize,
                                                  codec: $0.codec, dictionary: $0.dictionary))
                    }
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

/// Writes a publish's journal as packs are uploaded: rewritten whole (one small PUT) after every
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
