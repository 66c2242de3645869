import Foundation
import Synchronization
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// The objects through which publish and gc coordinate (the protocol is in docs/gc.md):
///
///     gc/lock               the one gc lease (created with a conditional put, renewed, expires)
///     gc/leases/<id>        one per publish in progress (renewed while it runs, removed when done)
///
/// A publish writes its lease, then reads `gc/lock`: while a gc is sweeping it withdraws the lease
/// and waits. A gc announces `sweeping` in its lock before it lists the leases, and deletes nothing
/// while a live lease exists. So no publish reads the store, uploads or switches a ref while blobs
/// are being deleted.
extension StoreLayout {
    public static let gcLock: ObjectKey = "gc/lock"
    public static let publishLeasePrefix = "gc/leases/"
    public static func publishLease(_ id: String) -> ObjectKey { try! ObjectKey("gc/leases/\(id)") }
}

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

    public init(holder: LeaseHolder, acquired: Date, expires: Date, phase: Phase) {
        self.holder = holder
        self.acquired = acquired
        self.expires = expires
        self.phase = phase
    }

    public func isLive(at now: Date = Date()) -> Bool { expires > now && !holder.isDeadLocalProcess }

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
    /// lease renewed in the background. See docs/gc.md for why this makes publish safe against gc.
    public func withPublishLease<T: Sendable>(_ what: String, timing: PublishLeaseTiming = .default,
                                              _ body: @Sendable (PublishLease) async throws -> T) async throws -> T {
        let lease = PublishLease(holder: .current(what), timing: timing)
        let key = StoreLayout.publishLease(lease.holder.id)
        func write() async throws {
            let start = ContinuousClock.now
            let now = Date()
            let doc = PublishLeaseDocument(holder: lease.holder, started: now, expires: now.addingTimeInterval(timing.ttl.timeInterval))
            try await store.put(key, doc.encoded())
            lease.renewed(at: start)
        }
        // 1. Announce, then make sure no sweep is under way; if one is, withdraw and wait for it.
        while true {
            try await write()
            guard let sweeper = try await sweepingGC() else { break }
            try await store.delete([key])
            let wait = min(timing.pollEvery, .seconds(max(0.001, sweeper.expires.timeIntervalSinceNow)))
            try await Task.sleep(for: wait)
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
            let result = try await body(lease)
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

    /// The gc lock when a live gc is in its sweeping phase, else nil.
    public func sweepingGC() async throws -> GCLockDocument? {
        let bytes: [UInt8]
        do { bytes = try await store.get(StoreLayout.gcLock) } catch BlobStoreError.notFound { return nil }
        guard let doc = try? GCLockDocument.decode(bytes) else { return nil }
        return doc.phase == .sweeping && doc.isLive() ? doc : nil
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
