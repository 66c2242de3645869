import TroveStorage

/// Everything a publish did, for the one-screen summary and `--json`.
public struct PublishReport: Codable, Sendable {
    public enum MediaStatus: String, Codable, Sendable {
        /// Published from this build.
        case published
        /// Failed in this build; the previous build's content was kept.
        case keptPrevious = "kept-previous"
        /// Failed in this build and there was no previous content to keep.
        case failed
        /// Present in the previous build, absent from this one: removed.
        case removed
    }

    public struct MediaType: Codable, Sendable {
        public var name: String
        public var status: MediaStatus
        public var files: Int
        public var bytes: Int
    }

    public var project: String
    public var version: String
    public var store: String
    /// The new manifest (nil when nothing was switched).
    public var manifest: String?
    public var previousManifest: String?
    /// Whether the version's ref now names the new manifest.
    public var switched = false
    /// A publish of the same version landed while this one ran, and this build replaced it (it is kept
    /// in the version's history, so `trove rollback` can restore it).
    public var replacedConcurrentPublish: String?
    /// The tree was identical to the current build: nothing was written.
    public var unchanged = false

    public var files = 0
    public var directories = 0
    public var symlinks = 0
    public var logicalBytes = 0

    public var chunks = 0
    public var newChunks = 0
    public var reusedChunks = 0
    public var newBytes = 0
    public var newStoredBytes = 0
    public var reusedBytes = 0
    /// Zip archives (htmlzip, ePub, …) chunked at member boundaries, their bytes, and how many of those
    /// bytes were already stored.
    public var containerFiles = 0
    public var containerBytes = 0
    public var containerReusedBytes = 0
    public var packs = 0
    public var packBytes = 0
    public var manifestBytes = 0
    public var indexedChunks = 0
    /// Packs of unfinished earlier publishes of this version (from their journals) whose chunks were reused.
    public var resumedPacks = 0
    /// Packs the dedup index named that were missing or too short; their chunks were stored again.
    public var repairedPacks: [String] = []

    public var dictionary: String?
    public var dictionaryTrained = false

    public var mediaTypes: [MediaType] = []
    public var errors: [PathError] = []
    public var requests = RequestCounts()
    public var seconds = 0.0

    /// True when some part failed (exit code non-zero) although others may have been published.
    public var hasFailures: Bool { !errors.isEmpty }
}
