import Foundation
import TroveContent
import TroveHTTP

/// AWS access credentials. `description` never shows the secret or the session token.
public struct AWSCredentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    public var description: String { "AWSCredentials(accessKeyId: \(accessKeyId), secret: <redacted>)" }
    public var debugDescription: String { description }
}

/// AWS Signature Version 4 for header-signed requests (as S3 wants them), on OpenSSL's HMAC-SHA256.
///
/// The signer builds the canonical URI and query string itself and hands them back, so the URL that
/// is sent is byte-for-byte the one that was signed. Paths are not normalised (S3 rule): each segment
/// is URI-encoded once and `/` is kept.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The result of signing: what to send, plus the intermediate strings for tests and debugging.
    public struct Signed: Sendable {
        /// Percent-encoded path as sent and signed.
        public var canonicalURI: String
        /// Sorted, encoded query as sent and signed (no leading `?`).
        public var canonicalQuery: String
        /// The request's headers plus `Authorization` (and `x-amz-date`, `x-amz-security-token` when absent).
        public var headers: [(name: String, value: String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String

        /// `canonicalURI` plus `?query` when there is one: the request target to put after the host.
        public var requestTarget: String { canonicalQuery.isEmpty ? canonicalURI : "\(canonicalURI)?\(canonicalQuery)" }
        public var authorization: String? { headers.first { $0.name == "Authorization" }?.value }
    }

    /// Signs a request.
    /// - Parameters:
    ///   - path: the decoded path (`/bucket/some key`); it is encoded here.
    ///   - query: decoded names and values (`("prefix", "a/b")`); a name-only parameter has value "".
    ///   - headers: headers to send and sign; must include `host`. `x-amz-date` is added from `date`.
    ///   - payloadHash: hex SHA-256 of the body (or `UNSIGNED-PAYLOAD`); set as `x-amz-content-sha256`
    ///     when the headers lack it.
    public func sign(method: String, path: String, query: [(String, String)], headers: [(name: String, value: String)],
                     payloadHash: String, date: Date = Date()) -> Signed {
        let amzDate = Self.amzDate(date)
        let day = String(amzDate.prefix(8))
        var headers = headers
        func has(_ n: String) -> Bool { headers.contains { $0.name.lowercased() == n } }
        if !has("x-amz-date") { headers.append(("x-amz-date", amzDate)) }
        if service == "s3" && !has("x-amz-content-sha256") { headers.append(("x-amz-content-sha256", payloadHash)) }
        if let token = credentials.sessionToken, !has("x-amz-security-token") { headers.append(("x-amz-security-token", token)) }

        let canonicalURI = Self.encodePath(path)
        var encodedQuery: [(name: String, value: String)] = query.map { (Self.uriEncode($0.0), Self.uriEncode($0.1)) }
        encodedQuery.sort { (a: (name: String, value: String), b: (name: String, value: String)) -> Bool in
            a.name == b.name ? a.value < b.value : a.name < b.name
        }
        let canonicalQuery: String = encodedQuery.map { "\($0.name)=\($0.value)" }.joined(separator: "&")

        // Canonical headers: lowercase names, trimmed values with inner runs of spaces collapsed,
        // repeated names joined by commas, sorted by name.
        var grouped: [String: [String]] = [:]
        for (n, v) in headers { grouped[n.lowercased(), default: []].append(Self.trimValue(v)) }
        let names = grouped.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")

        let canonicalRequest = [method.uppercased(), canonicalURI, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash]
            .joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Digest.sha256(Array(canonicalRequest.utf8)).hex]
            .joined(separator: "\n")

        let kDate = Self.hmac(Array("AWS4\(credentials.secretAccessKey)".utf8), Array(day.utf8))
        let kRegion = Self.hmac(kDate, Array(region.utf8))
        let kService = Self.hmac(kRegion, Array(service.utf8))
        let kSigning = Self.hmac(kService, Array("aws4_request".utf8))
        let signature = Self.hex(Self.hmac(kSigning, Array(stringToSign.utf8)))

        headers.append(("Authorization",
                        "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"))
        return Signed(canonicalURI: canonicalURI, canonicalQuery: canonicalQuery, headers: headers,
                      canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// AWS URI encoding: every byte of the UTF-8 form except `A-Za-z0-9-._~` becomes `%XX` (uppercase);
    /// with `keepSlash`, `/` stays (for paths).
    public static func uriEncode(_ s: String, keepSlash: Bool = false) -> String {
        URIEncoding.encode(s, keep: keepSlash ? "/" : "")
    }

    /// Encodes a decoded path for S3: each segment encoded, `/` kept, never normalised; "" is "/".
    public static func encodePath(_ path: String) -> String {
        let p = path.hasPrefix("/") ? path : "/" + path
        return uriEncode(p, keepSlash: true)
    }

    static func trimValue(_ v: String) -> String {
        var out = ""
        var lastSpace = false
        for c in v.trimmingCharacters(in: .whitespaces) {
            if c == " " {
                if !lastSpace { out.append(c) }
                lastSpace = true
            } else {
                out.append(c)
                lastSpace = false
            }
        }
        return out
    }

    static func hmac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] { CloudCrypto.hmacSHA256(key: key, data) }

    static func hex(_ bytes: [UInt8]) -> String { CloudCrypto.hex(bytes) }
}
