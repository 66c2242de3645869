import Foundation
import TroveContent

/// The JSON document at `refs/<project>/versions/<version>`: which manifest is live, and the
/// previous ones (newest first) kept for rollback and retention.
public struct VersionRef: RefDocument, Sendable, Equatable {
    public struct Build: Codable, Sendable, Equatable {
        public var manifest: Digest
        public var published: String
        /// The build's project dictionary (also in its manifest's metadata), so a reader fetches the
        /// manifest and the dictionary at once instead of one after the other. Absent in older refs.
        public var dictionary: Digest?
        public init(manifest: Digest, published: String, dictionary: Digest? = nil) {
            self.manifest = manifest
            self.published = published
            self.dictionary = dictionary
        }
    }

    public var format: Int = 1
    public var project: String
    public var version: String
    public var current: Build
    public var history: [Build]

    public init(project: String, version: String, current: Build, history: [Build] = []) {
        self.project = project
        self.version = version
        self.current = current
        self.history = history
    }

}

/// A JSON document under `refs/` (version refs, aliases): stable pretty-printed bytes, and decoding
/// errors reported as a malformed ref naming its key.
public protocol RefDocument: Codable {}

extension RefDocument {
    public func encoded() -> [UInt8] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try! enc.encode(self))
    }

    public static func decode(_ bytes: [UInt8], key: String) throws -> Self {
        do { return try JSONDecoder().decode(Self.self, from: Data(bytes)) }
        catch { throw RepositoryError.malformedRef(key, "\(error)") }
    }
}
