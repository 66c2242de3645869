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
        var sealed = false
        /// Storage of uploaded packs, kept for the next ones (at most `maxInFlight + 1`).
        var spare: [[UInt8]] = []
    }

    /// One pack's bytes on their way to the store; handed back for reuse once stored.
    private final class Upload: @unchecked Sendable {
        // Touched only by the task that uploads it.
        let digest: Digest
        let trailerSize: Int
        var bytes: [UInt8]
        init(_ pack: Pack) {
            digest = pack.digest
            trailerSize = pack.bytes.count - pack.payloadSize
            bytes = pack.bytes
        }
    }

    let store: any BlobStore
    let targetSize: Int
    /// Told about every uploaded pack, so a re-run after a crash can reuse them.
    let journal: PublishJournalWriter?
    private let state = Mutex(State())
    private let slots: DispatchSemaphore
    private let group = DispatchGroup()
    private let maxInFlight: Int

    /// `expectedChunks` sizes the location map up front (an estimate; it only saves rehashing).
    init(store: any BlobStore, targetSize: Int, maxInFlight: Int, journal: PublishJournalWriter? = nil, expectedChunks: Int = 0) {
        self.store = store
        self.journal = journal
        self.targetSize = targetSize
        self.maxInFlight = maxInFlight
        slots = DispatchSemaphore(value: maxInFlight)
        state.withLock { $0.locations.reserveCapacity(expectedChunks) }
    }

    /// Adds one stored chunk; may block the calling worker thread while uploads catch up.
    func add(digest: Digest, stored: UnsafeRawBufferPointer, rawSize: Int, codec: Codec, dictionary: Digest?) {
        let full: PackWriter? = state.withLock { s in
            s.writer.append(digest: digest, stored: stored, rawSize: rawSize, codec: codec, dictionary: dictionary)
            guard s.writer.payloadSize >= targetSize else { return nil }
            let w = s.writer
            // Room for the chunk that crosses the target (≤ 64 KiB) and a typical trailer (~90 KB at 4 MiB).
            s.writer = s.spare.popLast().map { PackWriter(reusing: $0) } ?? PackWriter(capacity: targetSize + (192 << 10))
            return w
        }
        if let full { upload(full) }
    }

    /// Names the pack (its digest), records where its chunks go and uploads it in a Task.
    private func upload(_ writer: consuming PackWriter, waitForSlot: Bool = true) {
        let pack = writer.finish()
        record(pack)
        let upload = Upload(pack)
        if waitForSlot { slots.wait() }
        group.enter()
        Task {
            defer { if waitForSlot { slots.signal() }; group.leave() }
            await put(upload)
        }
    }

    /// Uploads one pack and journals it; the first failure is kept. Its storage then goes back to the
    /// spares. (A store that keeps the array, like the in-memory one, keeps it intact: emptying a
    /// shared array gives this side fresh storage.)
    private func put(_ upload: Upload) async {
        let size = upload.bytes.count
        do {
            try await store.put(StoreLayout.pack(upload.digest), upload.bytes)
            await journal?.uploaded(upload.digest, size: size, trailer: upload.trailerSize)
        } catch {
            state.withLock { if $0.failure == nil { $0.failure = error } }
        }
        var bytes = upload.bytes
        upload.bytes = []
        guard bytes.capacity >= targetSize else { return }
        bytes.removeAll(keepingCapacity: true)
        state.withLock { s in
            if s.spare.count <= maxInFlight && !s.sealed { s.spare.append(bytes) }
        }
    }

    private func record(_ pack: Pack) {
        state.withLock { s in
            s.packs += 1
            s.packBytes += pack.bytes.count
            for e in pack.entries { s.locations[e.digest] = e.location }
        }
    }

    /// Whether an upload has failed (workers stop early).
    var failed: Bool { state.withLock { $0.failure != nil } }

    /// Closes the last partial pack and starts its upload, without waiting for any upload: returns where
    /// every new chunk goes (pack digests and offsets are known once packs are closed), so the manifest
    /// can be built while the last packs are still being written. Call once the workers are done;
    /// `finish` then waits for the uploads, which must be durable before the manifest is stored.
    func seal() -> [Digest: ChunkLocation] {
        let last: PackWriter? = state.withLock { s in
            guard !s.sealed else { return nil }
            s.sealed = true
            guard !s.writer.isEmpty else { return nil }
            let w = s.writer
            s.writer = PackWriter()
            return w
        }
        // Called from the cooperative pool: never block on a slot there (at most one extra upload).
        if let last { upload(last, waitForSlot: false) }
        return state.withLock { $0.locations }
    }

    /// Seals (if not yet), waits for all uploads, and returns where every new chunk went.
    func finish() async throws -> (locations: [Digest: ChunkLocation], packs: Int, packBytes: Int) {
        _ = seal()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { c.resume() }
        }
        return try state.withLock { s in
            if let f = s.failure { throw f }
            return (s.locations, s.packs, s.packBytes)
        }
    }
}
