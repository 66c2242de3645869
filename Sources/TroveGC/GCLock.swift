import Foundation
import TroveContent
import TroveRepository
import TroveStorage

/// The one-gc-at-a-time lease at `gc/lock`: created with a conditional put, renewed by
/// compare-and-swap while the gc runs, taken over only once expired (or when its holder was a
/// process on this host that has died). A gc that cannot renew stops before its next deletion.
/// Released by writing it back expired, not by deleting it: the document carries when the last sweep
/// ended and which shared index is current from one gc to the next (docs/gc.md).
public actor GCLock {
    public let store: any BlobStore
    public let holder: LeaseHolder
    public let ttl: Duration
    private var etag: String
    private var document: GCLockDocument
    private var lastRenewal: ContinuousClock.Instant
    private var heartbeat: Task<Void, Never>?
    private var lost = false

    private init(store: any BlobStore, holder: LeaseHolder, ttl: Duration, etag: String, document: GCLockDocument, at: ContinuousClock.Instant) {
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.etag = etag
        self.document = document
        self.lastRenewal = at
    }

    /// The lock's default expiry (`GCOptions.lockTTL`, `trove index rebuild`); renewed every quarter of it.
    public static let defaultTTL: Duration = .seconds(120)

    /// Takes the lock or throws `GCError.locked` naming the holder.
    public static func acquire(_ store: any BlobStore, what: String = "gc", ttl: Duration = defaultTTL) async throws -> GCLock {
        let holder = LeaseHolder.current(what)
        for _ in 0..<5 {
            let start = ContinuousClock.now
            let now = Date()
            var doc = GCLockDocument(holder: holder, acquired: now, expires: now.addingTimeInterval(ttl.seconds), phase: .marking)
            let condition: WriteCondition
            if let blob = try await store.readIfPresent(StoreLayout.gcLock) {
                let existing = try? GCLockDocument.decode(blob.bytes)
                if let existing, existing.isLive() { throw GCError.locked(existing) }
                // What the previous gc left for publishes to read is carried over.
                doc.sweepEnded = existing?.lastPossibleDeletion
                doc.sharedIndex = existing?.sharedIndex
                condition = .ifMatch(blob.etag)
            } else {
                condition = .ifAbsent
            }
            do {
                let tag = try await store.put(StoreLayout.gcLock, doc.encoded(), condition: condition)
                let lock = GCLock(store: store, holder: holder, ttl: ttl, etag: tag, document: doc, at: start)
                await lock.startHeartbeat()
                return lock
            } catch BlobStoreError.preconditionFailed {
                // Raced with another gc (or our own retried write landed): look again.
                if let blob = try await store.readIfPresent(StoreLayout.gcLock), let now = try? GCLockDocument.decode(blob.bytes),
                   now.holder == holder {
                    let lock = GCLock(store: store, holder: holder, ttl: ttl, etag: blob.etag, document: now, at: start)
                    await lock.startHeartbeat()
                    return lock
                }
            }
        }
        if let doc = try await GCLock.current(store) { throw GCError.locked(doc) }
        throw GCError.lockLost("could not take gc/lock")
    }

    static func current(_ store: any BlobStore) async throws -> GCLockDocument? {
        guard let blob = try? await store.readIfPresent(StoreLayout.gcLock) else { return nil }
        return try? GCLockDocument.decode(blob.bytes)
    }

    private func startHeartbeat() {
        let every = ttl / 4
        heartbeat = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: every)
                guard let self, !Task.isCancelled else { return }
                try? await self.renew()
            }
        }
    }

    /// Renews the lease (optionally switching phase) by compare-and-swap on its ETag. Leaving the
    /// `sweeping` phase records when the sweep ended, for publishes that read refs meanwhile.
    public func renew(phase: GCLockDocument.Phase? = nil) async throws {
        var next = document
        if let phase {
            if document.phase == .sweeping && phase != .sweeping { next.sweepEnded = Date() }
            next.phase = phase
        }
        try await write(next, expires: Date().addingTimeInterval(ttl.seconds))
    }

    /// Records the digest of the `index/shared` just written (or found current), so publishes learn
    /// it from the lock they read anyway.
    public func recordSharedIndex(_ digest: Digest?) async throws {
        guard digest != document.sharedIndex else { return }
        var next = document
        next.sharedIndex = digest
        try await write(next, expires: Date().addingTimeInterval(ttl.seconds))
    }

    private func write(_ proposed: GCLockDocument, expires: Date) async throws {
        if lost { throw GCError.lockLost("gc/lock was taken over") }
        let start = ContinuousClock.now
        var next = proposed
        next.expires = expires
        do {
            etag = try await store.put(StoreLayout.gcLock, next.encoded(), condition: .ifMatch(etag))
            document = next
            lastRenewal = max(lastRenewal, start)
        } catch BlobStoreError.preconditionFailed {
            // Either someone took it over, or a retried write of ours landed: check which.
            if let blob = try await store.readIfPresent(StoreLayout.gcLock), blob.bytes == next.encoded() {
                etag = blob.etag
                document = next
                lastRenewal = max(lastRenewal, start)
                return
            }
            lost = true
            throw GCError.lockLost("gc/lock was taken over by another gc")
        }
    }

    public var phase: GCLockDocument.Phase { document.phase }

    /// Throws unless the lease was renewed recently enough that no other gc or publish can have
    /// given up on it. Called right before every batch of deletions.
    public func checkValid() throws {
        if lost { throw GCError.lockLost("gc/lock was taken over") }
        let age = ContinuousClock.now - lastRenewal
        if age > ttl / 2 { throw GCError.lockLost("gc/lock not renewed for \(age); stopping before deleting anything more") }
    }

    /// Stops renewing and releases the lock if it is still ours: written back expired (not deleted),
    /// so what it records outlives this gc. A sweep that was cut short counts as ended now.
    public func release() async {
        heartbeat?.cancel()
        heartbeat = nil
        guard !lost else { return }
        var released = document
        if released.phase == .sweeping {
            released.phase = .marking
            released.sweepEnded = Date()
        }
        try? await write(released, expires: Date())
        lost = true
    }
}

public enum GCError: Error, CustomStringConvertible {
    case locked(GCLockDocument)
    case lockLost(String)
    case missingLiveObject(String)
    case aborted(String)

    public var description: String {
        switch self {
        case .locked(let d):
            "another gc holds the store's gc lock (\(d.holder.what) on \(d.holder.host), pid \(d.holder.pid), \(d.phase.rawValue), expires \(ISO8601DateFormatter().string(from: d.expires)))"
        case .lockLost(let m): m
        case .missingLiveObject(let m): "refusing to collect: \(m) (run `trove verify`)"
        case .aborted(let m): "gc stopped: \(m)"
        }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
