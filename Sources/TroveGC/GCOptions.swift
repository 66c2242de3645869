import Foundation
import TroveRepository

/// Settings of one gc run.
public struct GCOptions: Sendable {
    /// Report what would be done; write and delete nothing (not even the lock).
    public var dryRun = false
    /// Nothing modified more recently than this is deleted.
    public var grace: Duration = .seconds(24 * 3600)
    /// Which previous builds stay live.
    public var retention = RetentionPolicy()
    /// Compact packs whose live bytes are below this fraction of their payload (0 disables compaction).
    public var compactBelow = 0.5
    /// At most this many live bytes are copied by compaction per run.
    public var maxCompactBytes = 1 << 30
    /// Size of the packs compaction writes.
    public var packSize = 4 << 20
    /// Keys per delete request (S3 takes at most 1000).
    public var deleteBatch = 1000
    /// How long the sweep waits for publishes in progress to finish before it defers to the next run.
    public var leaseWait: Duration = .seconds(300)
    public var leasePoll: Duration = .seconds(1)
    /// How long after compaction switched refs the packs and manifests it replaced may still be read
    /// by readers that take no publish lease: `trove serve` trusts a ref for `serve.ref_ttl` (5 s by
    /// default), so keep this above it. Those objects are deleted in the same run once this much time
    /// has passed since the switch (gc waits out the rest before it announces its sweep).
    public var readerSettle: Duration = .seconds(10)
    /// Expiry of the gc lock (renewed every quarter of it while gc runs).
    public var lockTTL: Duration = GCLock.defaultTTL
    /// Packs named by a publish journal younger than this are kept (publish trusts journals for 12 h).
    public var journalMaxAge: Duration = PublishJournal.protectedFor
    /// Rebuild `index/shared` from the live builds (skipped when they have not changed).
    public var rebuildSharedIndex = true
    public var toolVersion = "trove"
    /// Scratch directory for the mark database (default: a new directory under the system temp dir).
    public var workDirectory: URL? = nil
    /// Test hooks called at every step of the protocol.
    public var hooks = GCHooks()

    public init() {}
}

/// The steps of a gc run, in order (`deleted(n)` after each batch of deletions).
public enum GCStep: Sendable, Equatable, Hashable, CustomStringConvertible {
    case locked, retained, marked, listed, compacted, indexed, sweepAnnounced, leasesDrained, remarked, deleted(Int), finished

    public var description: String {
        switch self {
        case .locked: "locked"
        case .retained: "retained"
        case .marked: "marked"
        case .listed: "listed"
        case .compacted: "compacted"
        case .indexed: "indexed"
        case .sweepAnnounced: "sweep-announced"
        case .leasesDrained: "leases-drained"
        case .remarked: "remarked"
        case .deleted(let n): "deleted-\(n)"
        case .finished: "finished"
        }
    }

    /// Every step a run without deletions or with one batch passes, for tests that pause at each.
    public static let sequence: [GCStep] = [.locked, .retained, .marked, .listed, .compacted, .indexed,
                                            .sweepAnnounced, .leasesDrained, .remarked, .deleted(1), .finished]
}

public struct GCHooks: Sendable {
    public var step: (@Sendable (GCStep) async throws -> Void)?
    public init(step: (@Sendable (GCStep) async throws -> Void)? = nil) { self.step = step }
}

/// What a gc run did (or, dry, would do).
public struct GCReport: Codable, Sendable {
    public struct Objects: Codable, Sendable, Equatable {
        /// Live, kept.
        public var live = 0, liveBytes = 0
        /// Unreachable but younger than the grace period: kept this time.
        public var young = 0, youngBytes = 0
        /// Unreachable and old enough: deleted (dry run: would be deleted).
        public var deleted = 0, deletedBytes = 0
        /// Eligible but not deleted because the sweep was deferred.
        public var pending = 0, pendingBytes = 0
    }

    public struct Compaction: Codable, Sendable, Equatable {
        public var packs = 0, packBytes = 0
        public var chunksCopied = 0, bytesCopied = 0
        public var newPacks = 0, newPackBytes = 0
        /// Dead chunks and bytes left behind in the compacted packs (reclaimed when the packs are deleted,
        /// normally by the same run: they count in `packs.deleted` and `chunksReclaimed` then).
        public var deadChunks = 0, deadBytes = 0
        public var manifestsRewritten = 0, refsSwitched = 0
        /// The replaced packs and manifests this run deleted (dry run: would delete); included in
        /// `packs.deleted` and `manifests.deleted`.
        public var oldPacksDeleted = 0, oldManifestsDeleted = 0
        public var skipped: [String] = []
    }

    public var store: String
    public var dryRun: Bool
    public var graceSeconds: Double
    public var retention: RetentionPolicy
    public var versions = 0
    public var liveBuilds = 0
    /// Previous builds dropped from version histories by the retention policy.
    public var buildsDropped = 0
    public var manifests = Objects()
    public var packs = Objects()
    public var dictionaries = Objects()
    public var liveChunks = 0, liveChunkBytes = 0
    /// Chunks in the packs deleted by this run.
    public var chunksReclaimed = 0
    /// Dead chunks still inside packs that also hold live chunks (reclaimed once compacted).
    public var deadChunksInLivePacks = 0, deadBytesInLivePacks = 0
    public var compaction = Compaction()
    public var sharedIndexChunks: Int?
    public var sharedIndexRebuilt = false
    public var sweepDeferred = false
    public var sweepNote: String?
    public var reclaimedBytes = 0
    public var keptBytes = 0
    public var seconds = 0.0

    init(store: String, options: GCOptions) {
        self.store = store
        dryRun = options.dryRun
        graceSeconds = options.grace.seconds
        retention = options.retention
    }

    mutating func total() {
        reclaimedBytes = manifests.deletedBytes + packs.deletedBytes + dictionaries.deletedBytes
        keptBytes = [manifests, packs, dictionaries].reduce(0) { $0 + $1.liveBytes + $1.youngBytes + $1.pendingBytes }
    }
}
