import Foundation
import Logging
import TroveStorage

/// A cloud backend's settings, parsed from its store URL (`s3://…`, `azure://…`), the config file's
/// store settings and the environment.
public protocol CloudStoreConfiguration: Sendable {
    init(url: URLComponents, settings: StoreSettings, environment: [String: String]) throws
}

/// What every cloud backend shares around its five operations: opening from a store URL and
/// registering its scheme, so the two stay alike as backends are added.
public protocol CloudBlobStore: BlobStore {
    associatedtype Configuration: CloudStoreConfiguration
    /// The URL scheme the backend answers to.
    static var scheme: String { get }
    init(configuration: Configuration, client: CurlHTTPClient?, logger: Logger) throws
}

extension CloudBlobStore {
    /// Opens a store from its URL (see the backend's configuration type for the options).
    public init(url: String, settings: StoreSettings = StoreSettings(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard let u = URLComponents(string: url) else { throw StoreURLError("not a store URL: \(url.prefix(200))") }
        try self.init(configuration: Configuration(url: u, settings: settings, environment: environment), client: nil,
                      logger: Logger(label: "trove.\(Self.scheme)"))
    }

    /// Registers the backend's scheme.
    public static func register(in registry: inout StoreRegistry,
                                environment: [String: String] = ProcessInfo.processInfo.environment,
                                logger: Logger = Logger(label: "trove.\(Self.scheme)")) {
        registry.register(scheme) { url, settings in
            try Self(configuration: try Configuration(url: url, settings: settings, environment: environment), client: nil, logger: logger)
        }
    }
}

extension WriteCondition {
    /// The HTTP preconditions of a conditional write, the same for S3 and Azure.
    public var httpHeaders: [(name: String, value: String)] {
        switch self {
        case .none: []
        case .ifAbsent: [("if-none-match", "*")]
        case .ifMatch(let etag): [("if-match", etag)]
        }
    }
}

extension ByteRange {
    /// The HTTP range value (`bytes=FIRST-LAST`, open-ended without a length), the same for S3's
    /// `Range` and Azure's `x-ms-range`. Not for empty ranges, which HTTP cannot express.
    public var httpValue: String { "bytes=\(offset)-" + (length.map { String(offset + $0 - 1) } ?? "") }
}

extension CloudBlobStore {
    /// A read of zero bytes, which HTTP cannot ask for: a HEAD that still reports a missing object
    /// and a range past the end as a real read would.
    public func emptyRead(_ key: ObjectKey, _ range: ByteRange) async throws -> Blob {
        guard let info = try await head(key) else { throw BlobStoreError.notFound(key) }
        if range.offset >= info.size { throw BlobStoreError.invalidRange(key, range) }
        return Blob(bytes: [], etag: info.etag)
    }

    /// The outcome of a put: its ETag when `succeeded`, else `error` — except that If-Match on an object
    /// that is gone means the version the caller expected is gone (a precondition failure).
    public func putOutcome(_ response: HTTPResponse, succeeded: Bool, key: ObjectKey, condition: WriteCondition,
                           error: @autoclosure () -> BlobStoreError) throws -> String {
        guard succeeded else {
            let error = error()
            if case .notFound = error, case .ifMatch = condition { throw BlobStoreError.preconditionFailed(key) }
            throw error
        }
        guard let etag = response.header("ETag"), !etag.isEmpty else {
            throw BlobStoreError.permanent("\(Self.scheme) put \(key) in \(displayName) succeeded without an ETag")
        }
        return etag
    }
}
