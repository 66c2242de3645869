import Foundation
import TroveHTTP

/// Azure Storage Shared Key authorisation (service version 2015-02-21 and later), on OpenSSL's
/// HMAC-SHA256: the signature covers the verb, the standard headers, every `x-ms-` header and the
/// canonicalized resource (`/ACCOUNT` + the encoded URL path + the query's names and decoded values).
public struct SharedKeySigner: Sendable {
    public var account: String
    let key: [UInt8]

    public init(account: String, key: [UInt8]) {
        self.account = account
        self.key = key
    }

    /// The standard headers in the order they are signed (each contributes its value or "").
    static let standardHeaders = ["content-encoding", "content-language", "content-length", "content-md5", "content-type",
                                  "date", "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"]

    /// The string that is signed, for tests and debugging.
    /// - Parameters:
    ///   - path: the URL path exactly as sent (percent-encoded), including a path-style endpoint's `/ACCOUNT`.
    ///   - query: decoded names and values as sent.
    ///   - headers: every header sent; `Content-Length` must be there for requests with a body.
    public func stringToSign(method: String, path: String, query: [(String, String)], headers: [(name: String, value: String)]) -> String {
        var lower: [String: [String]] = [:]
        for (n, v) in headers { lower[n.lowercased(), default: []].append(v.trimmingCharacters(in: .whitespaces)) }
        var out = method.uppercased() + "\n"
        for h in Self.standardHeaders {
            var v = lower[h]?.joined(separator: ",") ?? ""
            if h == "content-length" && v == "0" { v = "" } // signed empty since 2015-02-21
            out += v + "\n"
        }
        // Canonicalized headers: x-ms-* lowercased and sorted (Trove's are plain ASCII names, for which
        // the service's culture-aware order is byte order), values trimmed.
        for name in lower.keys.filter({ $0.hasPrefix("x-ms-") }).sorted() {
            out += "\(name):\(lower[name]!.joined(separator: ","))\n"
        }
        out += "/\(account)\(path.isEmpty ? "/" : path)"
        var params: [String: [String]] = [:]
        for (n, v) in query { params[n.lowercased(), default: []].append(v) }
        for name in params.keys.sorted() {
            out += "\n\(name):\(params[name]!.sorted().joined(separator: ","))"
        }
        return out
    }

    /// The `Authorization` header value: `SharedKey ACCOUNT:base64(HMAC-SHA256(key, stringToSign))`.
    public func authorization(method: String, path: String, query: [(String, String)], headers: [(name: String, value: String)]) -> String {
        let s = stringToSign(method: method, path: path, query: query, headers: headers)
        return "SharedKey \(account):\(Data(CloudCrypto.hmacSHA256(key: key, Array(s.utf8))).base64EncodedString())"
    }

    /// Azure's URL encoding of a blob path: every byte but `A-Za-z0-9-._~` and `/` as `%XX`.
    public static func encodePath(_ path: String) -> String { URIEncoding.encode(path, keep: "/") }

    /// Query encoding: every byte but `A-Za-z0-9-._~` as `%XX`.
    public static func encodeQuery(_ s: String) -> String { URIEncoding.encode(s) }
}
