import Foundation
import Logging
import TroveContent
import TroveHTTP
import TroveStorage

/// A `BlobStore` on an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, Cloudflare R2, GCS interop).
///
/// Speaks the S3 REST API through `CurlHTTPClient` with its own SigV4 signer. Uploads carry
/// `Content-MD5` (and `x-amz-checksum-sha256`) so the server rejects bytes damaged in transit;
/// conditional writes use `If-None-Match: *` and `If-Match`. It does not retry: wrap it in
/// `RetryingBlobStore`, which retries the `.transient` errors this store reports for throttling,
/// 5xx answers, resets, stalls and unreachable endpoints.
public struct S3BlobStore: CloudBlobStore {
    public static let scheme = "s3"
    public let configuration: S3Configuration
    public let client: CurlHTTPClient
    let signer: SigV4Signer
    let logger: Logger

    /// Opens a store; `client` lets several stores share one connection pool.
    public init(configuration: S3Configuration, client: CurlHTTPClient? = nil, logger: Logger = Logger(label: "trove.s3")) throws {
        self.configuration = configuration
        if let client {
            self.client = client
        } else {
            self.client = try ConnectionOptions(maxConnections: configuration.maxConnections, stallTimeout: configuration.stallTimeout,
                                                listPageSize: configuration.listPageSize).makeClient()
        }
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region)
        self.logger = logger
    }

    public var displayName: String { configuration.description }

    // MARK: BlobStore

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        let sha = Digest.sha256(bytes)
        var headers: [(name: String, value: String)] = [
            ("content-type", "application/octet-stream"),
            ("content-md5", CloudCrypto.contentMD5(bytes)),
        ]
        if configuration.sendSHA256Checksum { headers.append(("x-amz-checksum-sha256", Data(sha.bytes).base64EncodedString())) }
        headers += condition.httpHeaders
        let r = try await send("PUT", object: key, headers: headers, body: bytes, payloadHash: sha.hex)
        return try putOutcome(r, succeeded: (200...299).contains(r.status), key: key, condition: condition,
                              error: S3ErrorMapping.map(status: r.status, body: r.body, operation: "put", key: key, configuration: configuration))
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        if let range, range.length == 0 { return try await emptyRead(key, range) }
        var headers: [(name: String, value: String)] = []
        if let range {
            headers.append(("range", range.httpValue))
        } else {
            headers.append(("x-amz-checksum-mode", "ENABLED"))
        }
        let r = try await send("GET", object: key, headers: headers)
        let etag = r.header("ETag") ?? ""
        switch r.status {
        case 200:
            if let range {
                // The server ignored the Range header: cut the range out here.
                guard range.offset < r.body.count else { throw BlobStoreError.invalidRange(key, range) }
                let end = range.length.map { min(r.body.count, range.offset + $0) } ?? r.body.count
                return Blob(bytes: Array(r.body[range.offset..<end]), etag: etag)
            }
            try verify(r, key: key)
            return Blob(bytes: r.body, etag: etag)
        case 206:
            return Blob(bytes: r.body, etag: etag)
        default:
            throw S3ErrorMapping.map(status: r.status, body: r.body, operation: "get", key: key, range: range, configuration: configuration)
        }
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        let r = try await send("HEAD", object: key)
        switch r.status {
        case 200...299:
            guard let size = r.header("Content-Length").flatMap(Int.init), let etag = r.header("ETag") else {
                throw BlobStoreError.permanent("S3 head \(key) in \(displayName): response lacks Content-Length or ETag")
            }
            return ObjectInfo(key: key, size: size, etag: etag, lastModified: r.header("Last-Modified").flatMap(CloudRequests.httpDate))
        case 404:
            return nil
        default:
            // HEAD answers carry no error document; a one-byte GET tells what is wrong.
            let probe = try await send("GET", object: key, headers: [("range", "bytes=0-0")])
            if (200...299).contains(probe.status) || probe.status == 416 || probe.status == 404 {
                throw S3ErrorMapping.map(status: r.status, error: nil, operation: "head", key: key, configuration: configuration)
            }
            throw S3ErrorMapping.map(status: probe.status, body: probe.body, operation: "head", key: key, configuration: configuration)
        }
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        let storePrefix = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
        var query: [(String, String)] = [("list-type", "2"), ("prefix", storePrefix + prefix),
                                         ("max-keys", String(configuration.listPageSize))]
        if let continuation { query.append(("continuation-token", continuation)) }
        let r = try await send("GET", query: query)
        guard r.status == 200 else {
            throw S3ErrorMapping.map(status: r.status, body: r.body, operation: "list \(prefix.isEmpty ? "(all)" : prefix)",
                                     key: nil, configuration: configuration)
        }
        guard let doc = CloudXML.parse(r.body), doc.name == "ListBucketResult" else {
            throw BlobStoreError.transient("S3 list \(prefix) in \(displayName): unreadable ListObjectsV2 response")
        }
        var objects: [ObjectInfo] = []
        for c in doc.all("Contents") {
            guard let name = c["Key"], name.hasPrefix(storePrefix),
                  let key = try? ObjectKey(String(name.dropFirst(storePrefix.count))) else { continue } // not ours
            objects.append(ObjectInfo(key: key, size: c["Size"].flatMap(Int.init) ?? 0, etag: c["ETag"] ?? "",
                                      lastModified: c["LastModified"].flatMap(CloudRequests.isoDate)))
        }
        var next: String? = nil
        if doc["IsTruncated"] == "true" {
            guard let token = doc["NextContinuationToken"], !token.isEmpty else {
                throw BlobStoreError.permanent("S3 list \(prefix) in \(displayName): truncated listing without a continuation token")
            }
            next = token
        }
        return ListPage(objects: objects, continuation: next)
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        let unique = Array(Set(keys)).sorted()
        guard !unique.isEmpty else { return }
        let batches = stride(from: 0, to: unique.count, by: 1000).map { Array(unique[$0..<min($0 + 1000, unique.count)]) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var running = 0
            for batch in batches {
                if running >= 4 { try await group.next(); running -= 1 }
                group.addTask { try await deleteBatch(batch) }
                running += 1
            }
            try await group.waitForAll()
        }
    }

    /// One DeleteObjects call (S3 takes at most 1000 keys and requires a body checksum).
    func deleteBatch(_ keys: [ObjectKey]) async throws {
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>"
        for k in keys { xml += "<Object><Key>\(MarkupEscaping.escape(objectName(k)))</Key></Object>" }
        xml += "</Delete>"
        let body = Array(xml.utf8)
        let sha = Digest.sha256(body)
        var headers: [(name: String, value: String)] = [("content-type", "application/xml"), ("content-md5", CloudCrypto.contentMD5(body))]
        if configuration.sendSHA256Checksum { headers.append(("x-amz-checksum-sha256", Data(sha.bytes).base64EncodedString())) }
        let r = try await send("POST", query: [("delete", "")], headers: headers, body: body, payloadHash: sha.hex)
        guard r.status == 200 else {
            throw S3ErrorMapping.map(status: r.status, body: r.body, operation: "delete \(keys.count) objects", key: nil, configuration: configuration)
        }
        // Quiet mode lists only failures; a missing key is not one.
        guard let doc = CloudXML.parse(r.body) else {
            throw BlobStoreError.transient("S3 delete in \(displayName): unreadable DeleteObjects response")
        }
        for e in doc.all("Error") where e["Code"] != "NoSuchKey" {
            let key = e["Key"].flatMap { try? ObjectKey(String($0.dropFirst(configuration.prefix.isEmpty ? 0 : configuration.prefix.count + 1))) }
            let mapped = S3ErrorMapping.map(status: 500, error: S3ErrorBody(code: e["Code"] ?? "", message: e["Message"] ?? ""),
                                            operation: "delete", key: key, configuration: configuration)
            if case .notFound = mapped { continue }
            throw mapped
        }
    }

    // MARK: Requests

    func objectName(_ key: ObjectKey) -> String {
        configuration.prefix.isEmpty ? key.rawValue : "\(configuration.prefix)/\(key.rawValue)"
    }

    func send(_ method: String, object key: ObjectKey, headers: [(name: String, value: String)] = [], body: [UInt8] = [],
              payloadHash: String? = nil) async throws -> HTTPResponse {
        try await send(method, path: "/" + objectName(key), headers: headers, body: body, payloadHash: payloadHash)
    }

    func send(_ method: String, query: [(String, String)], headers: [(name: String, value: String)] = [], body: [UInt8] = [],
              payloadHash: String? = nil) async throws -> HTTPResponse {
        try await send(method, path: configuration.pathStyle ? "" : "/", query: query, headers: headers, body: body, payloadHash: payloadHash)
    }

    /// Signs and sends one request; transport failures become `BlobStoreError`s, HTTP errors are returned.
    func send(_ method: String, path: String, query: [(String, String)] = [], headers: [(name: String, value: String)],
              body: [UInt8], payloadHash: String?) async throws -> HTTPResponse {
        let (host, base, pathPrefix) = configuration.hostAndBase
        let signed = signer.sign(method: method, path: pathPrefix + path, query: query,
                                 headers: [("host", host)] + headers,
                                 payloadHash: payloadHash ?? Digest.sha256(body).hex)
        let request = HTTPRequest(method: method, url: base + signed.requestTarget, headers: signed.headers, body: body)
        return try await CloudRequests.send(request, client: client, logger: logger, service: "s3", path: signed.canonicalURI)
    }

    /// Checks a whole-object GET against the SHA-256 checksum the server stored, when it reports one.
    func verify(_ r: HTTPResponse, key: ObjectKey) throws {
        if let expected = r.header("x-amz-checksum-sha256"), !expected.contains("-"),
           expected != Data(Digest.sha256(r.body).bytes).base64EncodedString() {
            throw BlobStoreError.transient("S3 get \(key) from \(displayName): body does not match its SHA-256 checksum (damaged in transit)")
        }
        if let length = r.header("Content-Length").flatMap(Int.init), length != r.body.count {
            throw BlobStoreError.transient("S3 get \(key) from \(displayName): got \(r.body.count) of \(length) bytes")
        }
    }
}
