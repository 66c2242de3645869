import Foundation

/// Opens stores by URL (`file:///path`, `memory://`, and whatever schemes feature modules register,
/// such as `s3://`). Keeps the core free of backend dependencies: the CLI composes the registry.
public struct StoreRegistry: Sendable {
    public typealias Opener = @Sendable (URLComponents, StoreSettings) throws -> any BlobStore
    private var openers: [String: Opener] = [:]

    /// A registry that knows `file` and `memory`.
    public init() {
        register("file") { url, _ in
            guard (url.host ?? "").isEmpty || url.host == "localhost" else {
                throw StoreURLError("file store URL needs an absolute path with three slashes, e.g. file:///var/lib/trove (got file://\(url.host ?? "")\(url.path))")
            }
            let path = url.percentEncodedPath.removingPercentEncoding ?? url.path
            guard path.hasPrefix("/") else {
                throw StoreURLError("file store URL needs an absolute path, e.g. file:///var/lib/trove (got \(url.string ?? path))")
            }
            return try LocalBlobStore(root: URL(fileURLWithPath: try StoreRegistry.checkedPath(path)))
        }
        register("memory") { _, _ in MemoryBlobStore() }
    }

    /// A local store's directory: never empty, never the file system root, no control characters.
    static func checkedPath(_ path: String) throws -> String {
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw StoreURLError("store path contains control characters")
        }
        guard URL(fileURLWithPath: path).standardizedFileURL.path != "/" else {
            throw StoreURLError("the file system root cannot be a store; name a directory, e.g. file:///var/lib/trove")
        }
        return path
    }

    public mutating func register(_ scheme: String, _ opener: @escaping Opener) {
        openers[scheme.lowercased()] = opener
    }

    public var schemes: [String] { openers.keys.sorted() }

    /// Opens a store. `location` is a URL (`file:///path`, `s3://…`, `memory://`) or a path that is
    /// absolute (`/var/lib/trove`) or explicitly relative (`./store`, `../store`). Anything else,
    /// including an empty or blank value, is refused: a store must never default to the current directory.
    public func open(_ location: String, settings: StoreSettings = StoreSettings()) throws -> any BlobStore {
        guard !location.allSatisfy({ $0 == " " || $0 == "\t" }) else {
            throw StoreURLError("the store URL is empty; give file:///path, s3://bucket/prefix or memory://")
        }
        guard location.first?.isWhitespace != true, location.last?.isWhitespace != true else {
            throw StoreURLError("the store URL \(location.debugDescription) has leading or trailing spaces")
        }
        if location.hasPrefix("/") || location.hasPrefix("./") || location.hasPrefix("../") {
            return try LocalBlobStore(root: URL(fileURLWithPath: try StoreRegistry.checkedPath(location)))
        }
        guard let colon = location.firstIndex(of: ":"), StoreRegistry.isScheme(location[..<colon]) else {
            throw StoreURLError("not a store URL: \(location.debugDescription); give file:///path, an absolute path, ./relative/path, s3://bucket/prefix or memory://")
        }
        guard let url = URLComponents(string: location), let scheme = url.scheme?.lowercased() else {
            throw StoreURLError("not a store URL: \(location.debugDescription)")
        }
        guard let opener = openers[scheme] else {
            throw StoreURLError("unknown store scheme \(scheme)://; known: \(schemes.map { $0 + "://" }.joined(separator: ", "))")
        }
        return try opener(url, settings)
    }

    /// RFC 3986 scheme syntax: a letter, then letters, digits, `+`, `-` or `.`.
    static func isScheme(_ s: Substring) -> Bool {
        guard let first = s.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else { return false }
        return s.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0)) }
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
