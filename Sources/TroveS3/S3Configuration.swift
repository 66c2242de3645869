import Foundation
import TroveStorage

/// Everything `S3BlobStore` needs to reach a bucket, parsed from an `s3://BUCKET/PREFIX?options` URL,
/// `StoreSettings` (`s3.*` keys) and the standard AWS environment variables.
///
/// Precedence: URL query, then settings, then environment, then defaults; except credentials, which
/// come from the AWS environment first (as every AWS tool does) and from settings otherwise.
public struct S3Configuration: Sendable, CustomStringConvertible {
    public var bucket: String
    /// Key prefix inside the bucket, without leading or trailing `/` ("" for the bucket root).
    public var prefix: String
    /// `scheme://host[:port]` of the S3 API, without a trailing slash.
    public var endpoint: URL
    public var region: String
    /// Path-style (`endpoint/bucket/key`) rather than virtual-hosted (`bucket.endpoint/key`) URLs.
    public var pathStyle: Bool
    public var credentials: AWSCredentials
    /// Requests in flight at once, which is also the connection pool's size.
    public var maxConnections: Int
    /// Send `x-amz-checksum-sha256` with uploads (besides `Content-MD5`); off for servers that reject it.
    public var sendSHA256Checksum: Bool
    /// A transfer that moves no data for this long is abandoned as stalled (transient).
    public var stallTimeout: Duration
    /// Keys per ListObjectsV2 page (1...1000).
    public var listPageSize: Int

    public init(bucket: String, prefix: String = "", endpoint: URL, region: String = "us-east-1", pathStyle: Bool = true,
                credentials: AWSCredentials, maxConnections: Int = 16, sendSHA256Checksum: Bool = true,
                stallTimeout: Duration = .seconds(30), listPageSize: Int = 1000) {
        self.bucket = bucket
        self.prefix = prefix.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        self.endpoint = endpoint
        self.region = region
        self.pathStyle = pathStyle
        self.credentials = credentials
        self.maxConnections = maxConnections
        self.sendSHA256Checksum = sendSHA256Checksum
        self.stallTimeout = stallTimeout
        self.listPageSize = listPageSize
    }

    /// Parses a store URL. `environment` defaults to the process environment (tests pass their own).
    public init(url: URLComponents, settings: StoreSettings = StoreSettings(),
                environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        guard url.scheme?.lowercased() == "s3" else { throw StoreURLError("not an s3:// URL") }
        guard let bucket = url.host, !bucket.isEmpty else {
            throw StoreURLError("s3 store URL needs a bucket: s3://BUCKET/PREFIX?endpoint=...&region=...")
        }
        let query = Dictionary((url.queryItems ?? []).map { ($0.name.lowercased(), $0.value ?? "") }, uniquingKeysWith: { _, b in b })
        let known: Set = ["endpoint", "region", "path_style", "max_connections", "checksum", "stall_timeout", "list_page_size"]
        if let unknown = query.keys.sorted().first(where: { !known.contains($0) }) {
            throw StoreURLError("unknown s3 URL option \(unknown); known: \(known.sorted().joined(separator: ", "))")
        }
        // URL query first, then the merged settings (flags/env/config), then the AWS environment.
        func opt(_ name: String, env: [String] = []) -> String? {
            if let v = query[name], !v.isEmpty { return v }
            if let v = settings["s3.\(name)"], !v.isEmpty { return v }
            for e in env { if let v = environment[e], !v.isEmpty { return v } }
            return nil
        }
        let region = opt("region", env: ["AWS_REGION", "AWS_DEFAULT_REGION"]) ?? "us-east-1"
        let endpointText = opt("endpoint", env: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
        let endpoint: URL
        if let endpointText {
            guard let u = URL(string: endpointText.hasSuffix("/") ? String(endpointText.dropLast()) : endpointText),
                  let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https", u.host != nil else {
                throw StoreURLError("s3 endpoint must be an http:// or https:// URL, got \(endpointText.prefix(200))")
            }
            endpoint = u
        } else {
            endpoint = URL(string: "https://s3.\(region).amazonaws.com")!
        }
        let pathStyle: Bool
        if let p = opt("path_style") {
            guard let b = Self.bool(p) else { throw StoreURLError("s3 path_style must be true or false, got \(p)") }
            pathStyle = b
        } else {
            // Custom endpoints (MinIO, Ceph, moto) mostly want path style; AWS wants virtual hosts,
            // except for bucket names with dots, which break TLS wildcard certificates.
            pathStyle = endpointText != nil || bucket.contains(".")
        }
        let maxConnections = try Self.int(opt("max_connections"), "max_connections", default: 16, range: 1...1024)
        let listPageSize = try Self.int(opt("list_page_size"), "list_page_size", default: 1000, range: 1...1000)
        let stall = try Self.int(opt("stall_timeout"), "stall_timeout", default: 30, range: 1...3600)
        let checksum = (opt("checksum") ?? "sha256").lowercased()
        guard checksum == "sha256" || checksum == "md5" else { throw StoreURLError("s3 checksum must be sha256 or md5, got \(checksum)") }

        let credentials: AWSCredentials
        if let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty, let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty {
            credentials = AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
        } else if let id = settings["s3.access_key_id"], !id.isEmpty, let secret = settings["s3.secret_access_key"], !secret.isEmpty {
            credentials = AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: settings["s3.session_token"].flatMap { $0.isEmpty ? nil : $0 })
        } else {
            throw StoreURLError("no S3 credentials for s3://\(bucket): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or s3.access_key_id and s3.secret_access_key in the config file")
        }

        let path = url.percentEncodedPath.removingPercentEncoding ?? url.path
        self.init(bucket: bucket, prefix: path, endpoint: endpoint, region: region, pathStyle: pathStyle, credentials: credentials,
                  maxConnections: maxConnections, sendSHA256Checksum: checksum == "sha256", stallTimeout: .seconds(stall),
                  listPageSize: listPageSize)
    }

    /// `s3://bucket/prefix at endpoint`: for messages; never holds credentials.
    public var description: String {
        let where_ = prefix.isEmpty ? "s3://\(bucket)" : "s3://\(bucket)/\(prefix)"
        return "\(where_) at \(origin)"
    }

    /// `scheme://host[:port]` of the endpoint.
    public var origin: String {
        var s = "\(endpoint.scheme ?? "https")://\(endpoint.host ?? "")"
        if let p = endpoint.port { s += ":\(p)" }
        return s
    }

    /// The `Host` header and URL base for requests to this bucket.
    var hostAndBase: (host: String, base: String, pathPrefix: String) {
        let scheme = endpoint.scheme ?? "https"
        var host = endpoint.host ?? ""
        if !pathStyle { host = "\(bucket).\(host)" }
        if let p = endpoint.port { host += ":\(p)" }
        var basePath = endpoint.path
        if basePath.hasSuffix("/") { basePath.removeLast() }
        let pathPrefix = pathStyle ? "\(basePath)/\(bucket)" : basePath
        return (host, "\(scheme)://\(host)", pathPrefix)
    }

    static func bool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }

    static func int(_ s: String?, _ name: String, default d: Int, range: ClosedRange<Int>) throws -> Int {
        guard let s else { return d }
        guard let v = Int(s), range.contains(v) else {
            throw StoreURLError("s3 \(name) must be a number in \(range.lowerBound)...\(range.upperBound), got \(s.prefix(50))")
        }
        return v
    }
}
