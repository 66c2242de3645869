import Foundation
import TroveHTTP
import TroveStorage

/// Everything `S3BlobStore` needs to reach a bucket, parsed from an `s3://BUCKET/PREFIX?options` URL,
/// `StoreSettings` (`s3.*` keys) and the standard AWS environment variables.
///
/// Precedence: URL query, then settings, then environment, then defaults; except credentials, which
/// come from the AWS environment first (as every AWS tool does) and from settings otherwise.
public struct S3Configuration: CloudStoreConfiguration, CustomStringConvertible {
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
        let o = try StoreOptions(scheme: "s3", url: url, known: StoreOptions.connectionOptions.union(["endpoint", "region", "path_style", "checksum"]),
                                 settings: settings, environment: environment)
        guard bucket.utf8.allSatisfy(Self.isNameByte) else {
            throw StoreURLError("s3 bucket name \(bucket.prefix(70).debugDescription) may only have letters, digits, '.', '_' and '-'")
        }
        let region = o.value("region", env: ["AWS_REGION", "AWS_DEFAULT_REGION"]) ?? "us-east-1"
        // The region goes into host names and the signature's scope: letters, digits, '.', '_', '-' only.
        guard (1...64).contains(region.utf8.count), region.utf8.allSatisfy(Self.isNameByte) else {
            throw StoreURLError("s3 region (?region=, s3.region or AWS_REGION) must be 1-64 letters, digits, '.', '_' or '-' (like us-east-1), got \(region.prefix(70).debugDescription)")
        }
        let endpointText = o.value("endpoint", env: ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
        guard let endpoint = try endpointText.map(o.endpoint) ?? URL(string: "https://s3.\(region).amazonaws.com") else {
            throw StoreURLError("s3 region \(region.debugDescription) does not make an endpoint host name")
        }
        // Custom endpoints (MinIO, Ceph, moto) mostly want path style; AWS wants virtual hosts,
        // except for bucket names with dots, which break TLS wildcard certificates.
        let pathStyle = try o.bool("path_style") ?? (endpointText != nil || bucket.contains("."))
        let connection = try o.connection(maxListPage: 1000)
        let checksum = (o.value("checksum") ?? "sha256").lowercased()
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
                  maxConnections: connection.maxConnections, sendSHA256Checksum: checksum == "sha256",
                  stallTimeout: connection.stallTimeout, listPageSize: connection.listPageSize)
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

    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
    }
}
