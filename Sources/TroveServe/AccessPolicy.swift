import Foundation
import TroveContent

/// Who may read what: private projects, bearer tokens and signed URLs.
///
/// A private project answers every request that is not authorised exactly as a project that does not
/// exist (a plain 404), so its existence does not leak. Tokens are compared by their SHA-256 in constant
/// time; signatures are HMAC-SHA256 compared in constant time.
public struct AccessPolicy: Sendable {
    public var privateProjects: Set<String>
    struct Token: Sendable { var digest: [UInt8]; var project: String? }
    var tokens: [Token]
    var signingKey: [UInt8]?

    /// - Parameters:
    ///   - tokens: entries `TOKEN` (reads every private project) or `PROJECT:TOKEN` (reads that project only).
    ///   - signingKey: the `serve.signing_key` secret; without one, signed URLs are refused.
    public init(privateProjects: Set<String> = [], tokens: [String] = [], signingKey: String? = nil) {
        self.privateProjects = privateProjects
        self.tokens = tokens.compactMap { entry in
            let e = entry.trimmingCharacters(in: .whitespaces)
            guard !e.isEmpty else { return nil }
            if let colon = e.firstIndex(of: ":"), colon != e.startIndex, e.index(after: colon) != e.endIndex {
                return Token(digest: Digest.sha256(Array(e[e.index(after: colon)...].utf8)).bytes, project: String(e[..<colon]))
            }
            return Token(digest: Digest.sha256(Array(e.utf8)).bytes, project: nil)
        }
        self.signingKey = signingKey.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
    }

    /// Parses the comma-separated config values (`serve.private_projects`, `serve.tokens`).
    public static func list(_ s: String?) -> [String] {
        (s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func isPrivate(_ project: String) -> Bool { privateProjects.contains(project) }

    /// Whether an `Authorization: Bearer …` header grants `project`. Every configured token is compared
    /// (no early exit), so the time taken does not say which one nearly matched.
    public func bearerGrants(_ authorization: String?, project: String) -> Bool {
        guard let authorization, authorization.count > 7, authorization.prefix(7).lowercased() == "bearer " else { return false }
        let presented = Digest.sha256(Array(authorization.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)).bytes
        var ok = false
        for t in tokens {
            let match = constantTimeEquals(presented, t.digest)
            if match && (t.project == nil || t.project == project) { ok = true }
        }
        return ok
    }

    /// The message a URL signature covers: scheme version, project, version (or alias) as written in the
    /// URL, the file's path inside the published tree, and the expiry.
    static func message(project: String, version: String, path: String, expires: Int) -> [UInt8] {
        Array("trove-url-v1\n\(project)\n\(version)\n\(path)\n\(expires)".utf8)
    }

    /// The hex signature for a file (what `trove sign-url` puts in the URL).
    public static func signature(key: String, project: String, version: String, path: String, expires: Int) -> String {
        HMACSHA256.mac(key: Array(key.utf8), message: message(project: project, version: version, path: path, expires: expires))
            .map { String(format: "%02x", $0) }.joined()
    }

    /// Whether the query's `expires` and `signature` grant this exact file now. A query with either
    /// parameter more than once grants nothing: which copy counts would otherwise be up to each parser
    /// (this one, the log redaction, a proxy in front), and one could smuggle a valid signature past another.
    public func signatureGrants(query: Substring?, project: String, version: String, path: String, now: Date = Date()) -> Bool {
        guard let signingKey, let query else { return false }
        var expires: Int? = nil, signature: [UInt8]? = nil
        var seenExpires = false, seenSignature = false
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            switch kv[0] {
            case "expires":
                guard !seenExpires else { return false }
                seenExpires = true
                expires = kv.count == 2 ? Int(kv[1]) : nil
            case "signature":
                guard !seenSignature else { return false }
                seenSignature = true
                signature = kv.count == 2 ? AccessPolicy.unhex(kv[1]) : nil
            default:
                continue
            }
        }
        guard let expires, let signature, expires >= Int(now.timeIntervalSince1970) else { return false }
        let expected = HMACSHA256.mac(key: signingKey, message: AccessPolicy.message(project: project, version: version, path: path, expires: expires))
        return constantTimeEquals(expected, signature)
    }

    /// Whether a query carries a signature at all (to decide whether resolving the file is worth it).
    static func hasSignature(_ query: Substring?) -> Bool {
        guard let query else { return false }
        return query.contains("signature=")
    }

    static func unhex(_ s: Substring) -> [UInt8]? {
        let u = Array(s.utf8)
        guard u.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var i = 0
        while i < u.count {
            guard let hi = RequestPath.hex(u[i]), let lo = RequestPath.hex(u[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
