import Foundation

/// Opens stores by URL (`file:///path`, `memory://`, and whatever schemes feature modules register,
/// such as `s3://`). Keeps the core free of backend dependencies: the CLI composes the registry.
public struct StoreRegistry: Sendable {
    public typealias Opener = @Sendable (URLComponents, StoreSettings) throws -> any BlobStore
    private var openers: [String: Opener] = [:]

    /// A registry that knows `file` and `memory`.
    public init() {
        register("file") { url, _ in
            guard !url.path.isEmpty, (url.host ?? "").isEmpty || url.host == "localhost" else {
                throw StoreURLError("file store URL needs an absolute path with three slashes, e.g. file:///var/lib/trove (got file://\(url.host ?? "")\(url.path))")
            }
            return try LocalBlobStore(root: URL(fileURLWithPath: url.percentEncodedPath.removingPercentEncoding ?? url.path))
        }
        register("memory") { _, _ in MemoryBlobStore() }
    }

    public mutating func register(_ scheme: String, _ opener: @escaping Opener) {
        openers[scheme.lowercased()] = opener
    }

    public var schemes: [String] { openers.keys.sorted() }

    /// Opens a store; a bare path is taken as a local directory.
    public func open(_ location: String, settings: StoreSettings = StoreSettings()) throws -> any BlobStore {
        if location.hasPrefix("/") || location.hasPrefix(".") || !location.contains("://") {
            return try LocalBlobStore(root: URL(fileURLWithPath: location))
        }
        guard let url = URLComponents(string: location), let scheme = url.scheme?.lowercased() else {
            throw StoreURLError("not a store URL: \(location)")
        }
        guard let opener = openers[scheme] else {
            throw StoreURLError("unknown store scheme \(scheme)://; known: \(schemes.map { $0 + "://" }.joined(separator: ", "))")
        }
        return try opener(url, settings)
    }
}

/// Backend settings from flags, environment and config file, already merged by the caller.
/// Keys are backend-specific (`s3.endpoint`, `s3.region`, ...); values are strings.
public struct StoreSettings: Sendable {
    public var values: [String: String]
    public init(_ values: [String: String] = [:]) { self.values = values }
    public subscript(key: String) -> String? { values[key] }
}

public struct StoreURLError: Error, CustomStringConvertible {
    public let description: String
    public init(_ m: String) { description = m }
}
