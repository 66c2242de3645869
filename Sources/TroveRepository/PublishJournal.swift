import Foundation
import TroveContent
import TroveStorage

/// The in-progress journal of one publish run, at `refs/<project>/journals/<version>/<id>`: the packs
/// it has uploaded so far (each with its size and trailer length), so that a re-run after a crash or
/// kill reuses them instead of uploading everything again. Packs are named by their digest and
/// unreferenced until the manifest is written, so without the journal a re-run could not find them
/// short of listing and reading every pack in the store.
///
/// Written by publish (TrovePublish's `PublishJournalWriter`), read by a re-run of the same version
/// and by gc, which keeps the packs a fresh journal names (docs/gc.md): the one definition both use.
public struct PublishJournal: Codable, Sendable, Equatable {
    public struct PackRecord: Codable, Sendable, Equatable {
        /// The pack's digest (hex).
        public var pack: String
        /// Bytes of the whole pack object.
        public var size: Int
        /// Bytes of trailer plus footer at the pack's end: what one ranged GET reads back.
        public var trailer: Int

        public init(pack: String, size: Int, trailer: Int) {
            self.pack = pack
            self.size = size
            self.trailer = trailer
        }
    }

    public static let currentFormat = 1

    public var format = PublishJournal.currentFormat
    public var project: String
    public var version: String
    /// When the publish started (ISO 8601).
    public var started: String
    public var tool: String
    public var packs: [PackRecord] = []

    public init(project: String, version: String, started: String, tool: String) {
        self.project = project
        self.version = version
        self.started = started
        self.tool = tool
    }

    /// How long a re-run trusts a journal: older ones are ignored (and removed after the switch).
    public static let trustedFor: Duration = .seconds(12 * 3600)
    /// How long gc keeps the packs a journal names (`GCOptions.journalMaxAge`'s default): longer than
    /// `trustedFor`, so a journal a re-run still trusts never names a pack gc has collected.
    public static let protectedFor: Duration = .seconds(24 * 3600)

    public func encoded() -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        return Array(try! enc.encode(self))
    }

    /// The journal in `bytes`, or nil when it does not parse or has another format (journals only
    /// save work, so an unreadable one is skipped, never an error).
    public static func decode(_ bytes: [UInt8]) -> PublishJournal? {
        guard let j = try? JSONDecoder().decode(PublishJournal.self, from: Data(bytes)), j.format == currentFormat else { return nil }
        return j
    }

    /// The packs it names, as digests (malformed entries skipped).
    public var packDigests: [Digest] { packs.compactMap { Digest(hex: $0.pack) } }
}
