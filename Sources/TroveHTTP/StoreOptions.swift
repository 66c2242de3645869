import Foundation
import TroveStorage

/// The options of a cloud store URL (`s3://…?max_connections=8`, `azure://…?account=…`), looked up in
/// one order for every backend: the URL query, then the merged settings under `SCHEME.NAME` (flags,
/// `TROVE_*` variables, config file), then the backend's own environment variables, then the default.
/// An option the backend does not know is an error, so a typo never silently does nothing.
public struct StoreOptions: Sendable {
    /// `s3`, `azure`: the prefix of setting keys and of messages.
    public let scheme: String
    public let settings: StoreSettings
    public let environment: [String: String]
    let query: [String: String]

    /// Options shared by every cloud backend: the connection pool and stall detection.
    public static let connectionOptions: Set<String> = ["max_connections", "stall_timeout", "list_page_size"]

    public init(scheme: String, url: URLComponents, known: Set<String>, settings: StoreSettings,
                environment: [String: String]) throws {
        self.scheme = scheme
        self.settings = settings
        self.environment = environment
        query = Dictionary((url.queryItems ?? []).map { ($0.name.lowercased(), $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw StoreURLError("unknown \(scheme) URL option \(unknown); known: \(known.sorted().joined(separator: ", "))")
        }
    }

    /// The first non-empty value of option `name`: URL query, setting `SCHEME.name`, then `env` variables in order.
    public func value(_ name: String, env: [String] = []) -> String? {
        if let v = query[name], !v.isEmpty { return v }
        if let v = setting(name) { return v }
        for e in env { if let v = self.env(e) { return v } }
        return nil
    }

    /// A non-empty setting `SCHEME.name` (config file or flags only; never the URL).
    public func setting(_ name: String) -> String? {
        settings["\(scheme).\(name)"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A non-empty environment variable.
    public func env(_ name: String) -> String? {
        environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// An integer option within `range`, or `default` when unset.
    public func int(_ name: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s = value(name) else { return d }
        guard let v = Int(s), range.contains(v) else {
            throw StoreURLError("\(scheme) \(name) must be a number in \(range.lowerBound)...\(range.upperBound), got \(s.prefix(50))")
        }
        return v
    }

    /// A boolean option (`true/false`, `1/0`, `yes/no`, `on/off`), or nil when unset.
    public func bool(_ name: String) throws -> Bool? {
        guard let s = value(name) else { return nil }
        switch s.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw StoreURLError("\(scheme) \(name) must be true or false, got \(s.prefix(50))")
        }
    }

    /// An `http://` or `https://` endpoint URL without a trailing slash.
    public func endpoint(_ text: String) throws -> URL {
        let trimmed = text.hasSuffix("/") ? String(text.dropLast()) : text
        guard let u = URL(string: trimmed), let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https", u.host != nil else {
            throw StoreURLError("\(self.scheme) endpoint must be an http:// or https:// URL, got \(text.prefix(200))")
        }
        return u
    }

    /// The connection pool and stall options every cloud backend takes, with their defaults.
    public func connection(maxListPage: Int) throws -> ConnectionOptions {
        ConnectionOptions(maxConnections: try int("max_connections", default: 16, range: 1...1024),
                          stallTimeout: .seconds(try int("stall_timeout", default: 30, range: 1...3600)),
                          listPageSize: try int("list_page_size", default: maxListPage, range: 1...maxListPage))
    }
}

/// How a cloud backend talks to its service: pool size, stall detection, listing page size.
public struct ConnectionOptions: Sendable, Equatable {
    /// Requests in flight at once, which is also the connection pool's size.
    public var maxConnections: Int
    /// A transfer that moves no data for this long is abandoned as stalled (transient).
    public var stallTimeout: Duration
    /// Keys per listing page.
    public var listPageSize: Int

    public init(maxConnections: Int = 16, stallTimeout: Duration = .seconds(30), listPageSize: Int = 1000) {
        self.maxConnections = maxConnections
        self.stallTimeout = stallTimeout
        self.listPageSize = listPageSize
    }

    /// A client with this pool size and stall timeout.
    public func makeClient() throws -> CurlHTTPClient {
        var http = CurlHTTPClient.Configuration()
        http.maxConnections = maxConnections
        http.lowSpeedTime = stallTimeout
        return try CurlHTTPClient(configuration: http)
    }
}
