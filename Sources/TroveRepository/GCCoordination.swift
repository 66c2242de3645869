import Foundation
import Synchronization
import TroveContent
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// The objects through which publish and gc coordinate (the protocol is in docs/gc.md):
///
///     gc/lock               the one gc lease (created with a conditional put, renewed, expires; left
///                           in place, expired, when a gc ends: it remembers when the last sweep ended
///                           and which shared index is current)
///     gc/leases/<id>        one per publish in progress (renewed while it runs, removed when done)
///
/// A publish writes its lease, then reads `gc/lock` while it reads the refs: while a gc is sweeping
/// it withdraws the lease and waits, and if a sweep ended since shortly before its lease, it reads
/// the refs again. A gc announces `sweeping` in its lock before it lists the leases, and deletes
/// nothing while a live lease exists. So no publish relies on refs read while blobs were being
/// deleted, nor uploads or switches a ref while they are. Their keys are in `StoreLayout`.

/// Who holds a lease, so a lock left by a process that died on this host can be broken at once.
public struct LeaseHolder: Codable, Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int32
    public var what: String

    public init(id: String, host: String, pid: Int32, what: String) {
        self.id = id
        self.host = host
        self.pid = pid
        self.what = what
    }

    public static func current(_ what: String) -> LeaseHolder {
        LeaseHolder(id: UUID().uuidString.lowercased(), host: ProcessInfo.processInfo.hostName,
                    pid: ProcessInfo.processInfo.processIdentifier, what: what)
    }

    /// True when the holder is a process on this host that no longer exists.
    public var isDeadLocalProcess: Bool {
        guard host == ProcessInfo.processInfo.hostName, pid > 0 else { return false }
        if pid == ProcessInfo.processInfo.processIdentifier { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }
}

/// The JSON document at `gc/lock`.
public struct GCLockDocument: Codable, Sendable, Equatable {
    public enum Phase: String, Codable, Sendable { case marking, sweeping }
    public var holder: LeaseHolder
    public var acquired: Date
    public var expires: Date
    public var phase: Phase
    /// When the last sweep left the `sweeping` phase (carried from gc to gc; absent before any).
    public var sweepEnded: Date?
    /// The digest of the current `index/shared` (its SQLite bytes), written with it under this lock,
    /// so a publish learns from the lock it reads anyway whether there is an index and whether its
    /// cached copy is current. Absent: there is none.
    public var sharedIndex: Digest?

    public init(holder: LeaseHolder, acquired: Date, expires: Date, phase: Phase, sweepEnded: Date? = nil, sharedIndex: Digest? = nil) {
        self.holder = holder
        self.acquired = acquired
        self.expires = expires
        self.phase = phase
        self.sweepEnded = sweepEnded
        self.sharedIndex = sharedIndex
    }

    public func isLive(at now: Date = Date()) -> Bool { expires > now && !holder.isDeadLocalProcess }

    /// The latest time a sweep may have deleted anything: the recorded end of the last finished one,
    /// or, for a lock left `sweeping` by a gc that died, its expiry (it deleted nothing after that).
    public var lastPossibleDeletion: Date? {
        let ended = phase == .sweeping ? expires : nil
        switch (sweepEnded, ended) {
        case let (a?, b?): return max(a, b)
        case let (a, b): return a ?? b
        }
    }

    /// Whether a publish whose lease was written from `leaseWritten` on (its own clock) may have read
    /// refs while this lock's last sweep was deleting: then it reads them again (docs/gc.md, p2).
    /// `skew` allows for the gc's clock being behind the publisher's.
    public func sweptSince(_ leaseWritten: Date, skew: Duration = PublishLeaseTiming.default.clockSkew) -> Bool {
        guard let last = lastPossibleDeletion else { return false }
        return last >= leaseWritten.addingTimeInterval(-skew.timeInterval)
    }

    public func encoded() -> [UInt8] { Array(try! LeaseCoding.encoder.encode(self)) }
    public static func decode(_ bytes: [UInt8]) throws -> GCLockDocument { try LeaseCoding.decoder.decode(Self.self, from: Data(bytes)) }
}

/// The JSON document at `gc/leases/<id>`.
public struct PublishLeaseDocument: Codable, Sendable, Equatable {
    public var holder: LeaseHolder
    public var started: Date
    public var expires: Date

    public init(holder: LeaseHolder, started: Date, expires: Date) {
        self.holder = holder
        self.started = started
        self.expires = expires
    }

    public func isLive(at now: Date = Date()) -> Bool { expires > now && !holder.isDeadLocalProcess }
    public func encoded() -> [UInt8] { Array(try! LeaseCoding.encoder.encode(self)) }
    public static func decode(_ bytes: [UInt8]) throws -> PublishLeaseDocument { try LeaseCoding.decoder.decode(Self.self, from: Data(bytes)) }
}

enum LeaseCoding {
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        e.dateEncodingStrategy = .millisecondsSince1970
        return e
    }
    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .millisecondsSince1970
        return d
    }
}

/// Timing of publish leases.
public struct PublishLeaseTiming: Sendable {
    /// A lease not renewed for this long is dead (its publish crashed).
    public var ttl: Duration = .seconds(120)
    /// How often a running publish renews its lease.
    public var renewEvery: Duration = .seconds(20)
    /// How often a publish waiting for a sweep re-reads `gc/lock`.
    public var pollEvery: Duration = .milliseconds(500)
    /// The clock skew between hosts the protocol allows for (docs/gc.md, "Assumptions": well under
    /// `ttl / 2`).
    public var clockSkew: Duration = .seconds(60)
    public init() {}
    public static let `default` = PublishLeaseTiming()
}

/// A publish lease held for the duration of `Repository.withPublishLease`.
public final class PublishLease: Sendable {
    public let holder: LeaseHolder
    let timing: PublishLeaseTiming
    /// When the last successful write of the lease started (a renewal counts from its start).
    private let lastRenewal = Mutex<ContinuousClock.Instant>(.now)

    init(holder: LeaseHolder, timing: PublishLeaseTiming) {
        self.holder = holder
        self.timing = timing
    }

    func renewed(at start: ContinuousClock.Instant) { lastRenewal.withLock { $0 = max($0, start) } }

    /// Throws unless the lease was renewed recently enough that no gc can have given up on it.
    /// Publish calls this right before it switches a ref.
    public func checkValid() throws {
        let age = ContinuousClock.now - lastRenewal.withLock { $0 }
        if age > timing.ttl / 2 {
            throw LeaseLostError(message: "publish lease \(holder.id) was not renewed for \(age); not switching the ref (a gc may have run meanwhile)")
        }
    }
}

extension Repository {
    /// Runs `body` (a publish) under a publish lease: never while a gc is deleting blobs, and with the
    /// lease renewed in the background (docs/gc.md says why this makes publish safe against gc).
    /// `reading` (what the publish reads before it writes) runs once the lease is written, at the same
    /// time as the read of `gc/lock` (which it may await, for the shared index the lock names), instead
    /// of after it. What it read is used only if no sweep can have
    /// overlapped it: if a gc is sweeping, the lease is withdrawn and everything starts again once the
    /// sweep is over; if a sweep ended since shortly before the lease was written, `reading` runs again,
    /// after the lock read (docs/gc.md, "The protocol"). `reading` must only read.
    public func withPublishLease<R: Sendable, T: Sendable>(
        _ what: String, timing: PublishLeaseTiming = .default,
        reading: @escaping @Sendable (_ gcLock: Task<GCLockDocument?, any Error>) async throws -> R,
        _ body: @Sendable (PublishLease, R) async throws -> T
    ) async throws -> T {
        let lease = PublishLease(holder: .current(what), timing: timing)
        let key = StoreLayout.publishLease(lease.holder.id)
        func write() async throws {
            let start = ContinuousClock.now
            let now = Date()
            let doc = PublishLeaseDocument(holder: lease.holder, started: now, expires: now.addingTimeInterval(timing.ttl.timeInterval))
            try await store.put(key, doc.encoded())
            lease.renewed(at: start)
        }
        // 1. Announce, then make sure no sweep is under way (withdraw and wait while one is) and that
        //    none overlapped the reads made meanwhile (read again if one may have).
        var read: R
        while true {
            let written = Date()
            try await write()
            let lockRead = Task { try await self.gcLockDocument() }
            let reads = Task { try await reading(lockRead) }
            let lock: GCLockDocument?
            do { lock = try await lockRead.value } catch {
                reads.cancel()
                _ = await reads.result
                try? await store.delete([key])
                throw error
            }
            if let lock, lock.phase == .sweeping, lock.isLive() {
                reads.cancel()
                _ = await reads.result
                try await store.delete([key])
                let wait = min(timing.pollEvery, .seconds(max(0.001, lock.expires.timeIntervalSinceNow)))
                try await Task.sleep(for: wait)
                continue
            }
            do {
                if let lock, lock.sweptSince(written, skew: timing.clockSkew) {
                    _ = await reads.result
                    read = try await reading(lockRead)
                } else {
                    read = try await reads.value
                }
            } catch {
                try? await store.delete([key])
                throw error
            }
            break
        }
        // 2. Keep the lease alive while the body runs.
        let renewer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: timing.renewEvery)
                if Task.isCancelled { break }
                try? await write()
            }
        }
        do {
            let result = try await body(lease, read)
            renewer.cancel()
            _ = await renewer.result
            try? await store.delete([key])
            return result
        } catch {
            renewer.cancel()
            _ = await renewer.result
            try? await store.delete([key])
            throw error
        }
    }

    /// The gc lock document, or nil when no gc has run (an unreadable one counts as none: a live
    /// gc rewrites it at every renewal).
    public func gcLockDocument() async throws -> GCLockDocument? {
        guard let blob = try await store.readIfPresent(StoreLayout.gcLock) else { return nil }
        return try? GCLockDocument.decode(blob.bytes)
    }
}

/// A lease expired under its holder: it must not act on what it read while it held it.
public struct LeaseLostError: Error, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

extension Duration {
    var timeInterval: TimeInterval { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
