import Dispatch
import Synchronization
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Collects newly stored chunks from the publish workers into packs of `targetSize` bytes and
/// uploads each finished pack while the workers go on. Worker threads (never the cooperative pool)
/// block in `add` when `maxInFlight` uploads are already running, which bounds memory.
final class PackUploader: @unchecked Sendable {
    private struct State {
        var writer = PackWriter()
        var locations: [Digest: ChunkLocation] = [:]
        var packs = 0
        var packBytes = 0
        var failure: (any Error)?
    }

    let store: any BlobStore
    let targetSize: Int
    /// Told about every uploaded pack, so a re-run after a crash can reuse them.
    let journal: PublishJournalWriter?
    private let state = Mutex(State())
    private let slots: DispatchSemaphore
    private let group = DispatchGroup()
    private let maxInFlight: Int

    init(store: any BlobStore, targetSize: Int, maxInFlight: Int, journal: PublishJournalWriter? = nil) {
        self.store = store
        self.journal = journal
        self.targetSize = targetSize
        self.maxInFlight = maxInFlight
        slots = DispatchSemaphore(value: maxInFlight)
    }

    /// Adds one stored chunk; may block the calling worker thread while uploads catch up.
    func add(digest: Digest, stored: UnsafeRawBufferPointer, rawSize: Int, codec: Codec, dictionary: Digest?) {
        let full: PackWriter? = state.withLock { s in
            s.writer.append(digest: digest, stored: stored, rawSize: rawSize, codec: codec, dictionary: dictionary)
            guard s.writer.payloadSize >= targetSize else { return nil }
            let w = s.writer
            s.writer = PackWriter(capacity: targetSize + (64 << 10))
            return w
        }
        if let full { upload(full) }
    }

    private func upload(_ writer: consuming PackWriter) {
        let pack = writer.finish()
        slots.wait()
        group.enter()
        Task {
            defer { slots.signal(); group.leave() }
            await put(pack)
        }
    }

    /// Uploads one pack, records where its chunks went and journals it; the first failure is kept.
    private func put(_ pack: Pack) async {
        do {
            try await store.put(StoreLayout.pack(pack.digest), pack.bytes)
            record(pack)
            await journal?.uploaded(pack.digest, size: pack.bytes.count, trailer: pack.bytes.count - pack.payloadSize)
        } catch {
            state.withLock { if $0.failure == nil { $0.failure = error } }
        }
    }

    private func record(_ pack: Pack) {
        state.withLock { s in
            s.packs += 1
            s.packBytes += pack.bytes.count
            for e in pack.entries {
                s.locations[e.digest] = ChunkLocation(pack: pack.digest, offset: e.offset, storedSize: e.storedSize,
                                                      rawSize: e.rawSize, codec: e.codec, dictionary: e.dictionary)
            }
        }
    }

    /// Whether an upload has failed (workers stop early).
    var failed: Bool { state.withLock { $0.failure != nil } }

    /// Uploads the last partial pack, waits for all uploads, and returns where every new chunk went.
    func finish() async throws -> (locations: [Digest: ChunkLocation], packs: Int, packBytes: Int) {
        let last: PackWriter? = state.withLock { s in
            guard !s.writer.isEmpty else { return nil }
            let w = s.writer
            s.writer = PackWriter()
            return w
        }
        if let last {
            await put(last.finish())
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        return try state.withLock { s in
            if let f = s.failure { throw f }
            return (s.locations, s.packs, s.packBytes)
        }
    }
}
