import Foundation
import Logging
import TroveContent
import TroveHTTP
import TroveStorage

/// A `BlobStore` on an Azure Blob Storage container (or an emulator speaking its REST API).
///
/// One request per operation through the shared `CurlHTTPClient`, signed with Shared Key or carrying a
/// SAS: Put Blob (block blobs, `Content-MD5` so a damaged body is rejected), Get Blob (`x-ms-range`),
/// Get Blob Properties, List Blobs (`marker` paging), and Blob Batch for deletes (≤256 per request).
/// Conditional writes use `If-None-Match: *` and `If-Match`. It does not retry: wrap it in
/// `RetryingBlobStore`, which retries the `.transient` errors reported for `ServerBusy`, 5xx, resets,
/// stalls and unreachable endpoints.
public struct AzureBlobStore: CloudBlobStore {
    public static let scheme = "azure"
    public let configuration: AzureConfiguration
    public let client: CurlHTTPClient
    let signer: SharedKeySigner?
    let logger: Logger

    /// Blob Batch takes at most 256 sub-requests.
    public static let maxBatch = 256

    /// Opens a store; `client` lets several stores share one connection pool.
    public init(configuration: AzureConfiguration, client: CurlHTTPClient? = nil, logger: Logger = Logger(label: "trove.azure")) throws {
        self.configuration = configuration
        self.client = try client ?? configuration.connection.makeClient()
        if case .sharedKey(let key) = configuration.credentials {
            signer = SharedKeySigner(account: configuration.account, key: key)
        } else {
            signer = nil
        }
        self.logger = logger
    }

    public var displayName: String { configuration.description }

    // MARK: BlobStore

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        let headers: [(name: String, value: String)] = [
            ("x-ms-blob-type", "BlockBlob"),
            ("content-type", "application/octet-stream"),
            ("content-md5", CloudCrypto.contentMD5(bytes)),
        ] + condition.httpHeaders
        let r = try await send("PUT", blob: key, headers: headers, body: bytes)
        return try putOutcome(r, succeeded: r.status == 201 || r.status == 200, key: key, condition: condition,
                              error: AzureErrorMapping.map(r, operation: "put", key: key, configuration: configuration))
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        if let range, range.length == 0 { return try await emptyRead(key, range) }
        var headers: [(name: String, value: String)] = []
        if let range { headers.append(("x-ms-range", range.httpValue)) }
        let r = try await send("GET", blob: key, headers: headers)
        let etag = r.header("ETag") ?? ""
        switch r.status {
        case 200:
            if let range {
                // The server ignored the range: cut it out here.
                guard range.offset < r.body.count else { throw BlobStoreError.invalidRange(key, range) }
                let end = range.length.map { min(r.body.count, range.offset + $0) } ?? r.body.count
                return Blob(bytes: Array(r.body[range.offset..<end]), etag: etag)
            }
            try verify(r, key: key)
            return Blob(bytes: r.body, etag: etag)
        case 206:
            return Blob(bytes: r.body, etag: etag)
        default:
            throw AzureErrorMapping.map(r, operation: "get", key: key, range: range, configuration: configuration)
        }
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        let r = try await send("HEAD", blob: key)
        switch r.status {
        case 200...299:
            guard let size = r.header("Content-Length").flatMap(Int.init), let etag = r.header("ETag") else {
                throw BlobStoreError.permanent("Azure head \(key) in \(displayName): response lacks Content-Length or ETag")
            }
            return ObjectInfo(key: key, size: size, etag: etag, lastModified: r.header("Last-Modified").flatMap(CloudRequests.httpDate))
        default:
            // HEAD answers have no body; Azure names the error in x-ms-error-code.
            let error = AzureErrorMapping.map(r, operation: "head", key: key, configuration: configuration)
            if case .notFound = error { return nil }
            throw error
        }
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        let storePrefix = configuration.prefix.isEmpty ? "" : configuration.prefix + "/"
        var query: [(String, String)] = [("restype", "container"), ("comp", "list"), ("prefix", storePrefix + prefix),
                                         ("maxresults", String(configuration.connection.listPageSize))]
        if let continuation { query.append(("marker", continuation)) }
        let r = try await send("GET", blob: nil, query: query)
        guard r.status == 200 else {
            throw AzureErrorMapping.map(r, operation: "list \(prefix.isEmpty ? "(all)" : prefix)", key: nil, configuration: configuration)
        }
        guard let doc = CloudXML.parse(r.body), doc.name == "EnumerationResults" else {
            throw BlobStoreError.transient("Azure list \(prefix) in \(displayName): unreadable List Blobs response")
        }
        var objects: [ObjectInfo] = []
        for b in doc.child("Blobs")?.all("Blob") ?? [] {
            guard let name = b["Name"], name.hasPrefix(storePrefix),
                  let key = try? ObjectKey(String(name.dropFirst(storePrefix.count))) else { continue } // not ours
            let p = b.child("Properties")
            objects.append(ObjectInfo(key: key, size: p?["Content-Length"].flatMap(Int.init) ?? 0, etag: Self.quoted(p?["Etag"] ?? ""),
                                      lastModified: p?["Last-Modified"].flatMap(CloudRequests.httpDate)))
        }
        let next = doc["NextMarker"].flatMap { $0.isEmpty ? nil : $0 }
        return ListPage(objects: objects, continuation: next)
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        let unique = Array(Set(keys)).sorted()
        guard !unique.isEmpty else { return }
        let batches = stride(from: 0, to: unique.count, by: Self.maxBatch).map { Array(unique[$0..<min($0 + Self.maxBatch, unique.count)]) }
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

    /// One Blob Batch request (container-scoped) of Delete Blob sub-requests; each sub-result is checked
    /// and a missing blob is not an error.
    func deleteBatch(_ keys: [ObjectKey]) async throws {
        let boundary = "batch_" + UUID().uuidString.lowercased()
        let date = CloudRequests.httpDateString()
        let subRequests = keys.map { key -> BlobBatch.SubRequest in
            let path = blobPath(key)
            var headers: [(name: String, value: String)] = [("x-ms-date", date)]
            let target: String
            switch configuration.credentials {
            case .sharedKey:
                target = path
                headers.append(("Authorization", signer!.authorization(method: "DELETE", path: path, query: [], headers: headers + [("content-length", "0")])))
            case .sas(let sas):
                target = path + "?" + sas
            }
            headers.append(("Content-Length", "0"))
            return BlobBatch.SubRequest(method: "DELETE", target: target, headers: headers)
        }
        let body = BlobBatch.body(subRequests, boundary: boundary)
        let r = try await send("POST", blob: nil, query: [("restype", "container"), ("comp", "batch")],
                               headers: [("content-type", "multipart/mixed; boundary=\(boundary)")], body: body)
        guard r.status == 202 else {
            throw AzureErrorMapping.map(r, operation: "delete \(keys.count) blobs", key: nil, configuration: configuration)
        }
        guard let results = BlobBatch.parseResponse(r), results.count == keys.count else {
            throw BlobStoreError.transient("Azure delete in \(displayName): unreadable Blob Batch response (\(r.body.count) bytes)")
        }
        for (i, result) in results.enumerated() where !(200...299).contains(result.status) {
            let mapped = AzureErrorMapping.map(status: result.status, error: result.error, operation: "delete", key: keys[i], configuration: configuration)
            if case .notFound = mapped { continue }
            throw mapped
        }
    }

    // MARK: Requests

    func blobName(_ key: ObjectKey) -> String {
        configuration.prefix.isEmpty ? key.rawValue : "\(configuration.prefix)/\(key.rawValue)"
    }

    /// The encoded URL path of a blob (or of the container for nil), including a path-style endpoint's path.
    func blobPath(_ key: ObjectKey?) -> String {
        var base = configuration.endpoint.path
        if base.hasSuffix("/") { base.removeLast() }
        let container = base + "/" + configuration.container
        return key.map { container + "/" + SharedKeySigner.encodePath(blobName($0)) } ?? container
    }

    /// Signs (or appends the SAS to) and sends one request; transport failures become `BlobStoreError`s,
    /// HTTP errors are returned.
    func send(_ method: String, blob key: ObjectKey?, query: [(String, String)] = [], headers: [(name: String, value: String)] = [],
              body: [UInt8] = []) async throws -> HTTPResponse {
        let path = blobPath(key)
        var headers = headers + [("x-ms-date", CloudRequests.httpDateString()), ("x-ms-version", AzureConfiguration.serviceVersion)]
        var queryText = query.map { "\(SharedKeySigner.encodeQuery($0.0))=\(SharedKeySigner.encodeQuery($0.1))" }.joined(separator: "&")
        switch configuration.credentials {
        case .sharedKey:
            // libcurl sends Content-Length for PUT and POST; it is signed as sent ("" when 0).
            let signed = method == "PUT" || method == "POST" ? headers + [("content-length", String(body.count))] : headers
            headers.append(("Authorization", signer!.authorization(method: method, path: path, query: query, headers: signed)))
        case .sas(let sas):
            queryText += (queryText.isEmpty ? "" : "&") + sas
        }
        var origin = "\(configuration.endpoint.scheme ?? "https")://\(configuration.endpoint.host ?? "")"
        if let port = configuration.endpoint.port { origin += ":\(port)" }
        let url = origin + path + (queryText.isEmpty ? "" : "?" + queryText)
        return try await CloudRequests.send(HTTPRequest(method: method, url: url, headers: headers, body: body),
                                            client: client, logger: logger, service: "azure", path: path)
    }

    /// Checks a whole-blob GET against the MD5 Azure stored at upload, when it reports one.
    func verify(_ r: HTTPResponse, key: ObjectKey) throws {
        if let expected = r.header("Content-MD5"), !expected.isEmpty, expected != CloudCrypto.contentMD5(r.body) {
            throw BlobStoreError.transient("Azure get \(key) from \(displayName): body does not match its Content-MD5 (damaged in transit)")
        }
        if let length = r.header("Content-Length").flatMap(Int.init), length != r.body.count {
            throw BlobStoreError.transient("Azure get \(key) from \(displayName): got \(r.body.count) of \(length) bytes")
        }
    }

    /// List Blobs reports ETags without the quotes its headers carry; Trove compares them with `head`'s.
    static func quoted(_ etag: String) -> String {
        etag.isEmpty || etag.hasPrefix("\"") ? etag : "\"\(etag)\""
    }
}
