import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TroveContent

/// The answer to "may this request read project P", from `TroveServer.readAccess`: the one place where
/// bearer tokens, signed URLs and the host application (`serve.auth_url`) decide. The slow path, the
/// fast paths (from memory only, `TroveServer.mayReadFromMemory`) and any other listing of a project go
/// through it.
enum ReadAccess: Sendable, Equatable {
    case granted
    /// No token, signature or endpoint grants it: the plain 404 of a project that does not exist.
    case notFound
    /// The endpoint said 401 or 403: the configured answer (`ExternalAuthorization.Denial`).
    case denied(status: Int, wwwAuthenticate: String?, location: String?)
    /// The endpoint failed (status other than 2xx/401/403, timeout, refused): 503, never the file.
    case unavailable
}

/// A signed URL's claim, checked against the file the request resolved to.
struct SignedRead {
    var query: Substring?
    var version: String
    /// The file's path in the published tree (`html/page.html`), as signatures cover it.
    var path: String
}

/// What let the fast path answer a request from memory.
enum FastGrant {
    /// A public project.
    case open
    /// A bearer token of `serve.tokens`.
    case token
    /// The host application's cached decision (counted as a cache hit once the request is answered).
    case decision
}

/// The header values a fast-path request presents for a private project, found only when needed.
enum FastCredentials {
    /// Bytes of a complete head the raw parser accepted (`RawRequestHead.classify` said `.fast`).
    case raw(ByteBuffer)
    case fields(HTTPFields)
    case none
}

extension TroveServer {
    /// May this request read `project`? Public projects: yes. Private ones: a bearer token for it, a
    /// valid signature for the file (`signed`, when the request carries one), then the host
    /// application's decision (cached, shared with concurrent identical checks, or asked for). A request
    /// granted by a token or a signature never causes a subrequest.
    func readAccess(project: String, headers: HTTPFields, signed: SignedRead?, subject: @autoclosure () -> AuthSubject) async -> ReadAccess {
        let access = configuration.access
        guard access.isPrivate(project) else { return .granted }
        if access.bearerGrants(headers[.authorization], project: project) { return .granted }
        if let signed, access.signatureGrants(query: signed.query, project: project, version: signed.version, path: signed.path) {
            return .granted
        }
        guard configuration.authorization != nil else { return .notFound }
        guard let authorizer else { return .unavailable }
        let values = authorizer.headerNames.map { TroveServer.joinedValues(headers, $0) }
        switch await authorizer.decide(subject(), credentials: AuthCredentials(values: values)) {
        case .allowed: return .granted
        case .unavailable: return .unavailable
        case .denied(let status, let wwwAuthenticate, let location):
            return .denied(status: status, wwwAuthenticate: wwwAuthenticate, location: location)
        }
    }

    /// `readAccess` from memory alone, for the fast paths: what grants the read now (a public project,
    /// a token, a cached allowing decision), or nil to send the request the slow way (which asks the
    /// endpoint, or answers the denial). Counts nothing: `count` does once the request is answered.
    func mayReadFromMemory(project: String, _ credentials: FastCredentials) -> FastGrant? {
        let access = configuration.access
        guard access.isPrivate(project) else { return .open }
        let values: [String?]
        switch credentials {
        case .none: return nil
        case .fields(let f): values = credentialNames.map { TroveServer.joinedValues(f, $0) }
        case .raw(let head):
            // A forwarded header given twice goes the slow way (which joins the values).
            guard let v = head.withUnsafeReadableBytes({ RawRequestHead.values(of: credentialNames, in: $0) }) else { return nil }
            values = v
        }
        if access.bearerGrants(values[0], project: project) { return .token }
        guard let authorizer else { return nil }
        let key = AuthCredentials(values: Array(values.dropFirst())).key(project: project)
        return authorizer.cached(key) == .allowed ? .decision : nil
    }

    /// Counts a fast answer granted by a cached decision in `trove_serve_auth_decisions_total`.
    func count(_ grant: FastGrant) {
        if case .decision = grant { authorizer?.countAllowedFromCache() }
    }

    /// All values of a header, joined as HTTP allows (`; ` for `Cookie`, `, ` otherwise); nil when absent.
    static func joinedValues(_ fields: HTTPFields, _ lowercasedName: String) -> String? {
        guard let name = HTTPField.Name(lowercasedName) else { return nil }
        let all = fields[values: name]
        if all.isEmpty { return nil }
        if all.count == 1 { return all[0] }
        return all.joined(separator: lowercasedName == "cookie" ? "; " : ", ")
    }

    /// The answer for a request that may not read: the plain 404, the endpoint's 401/403 with its
    /// `WWW-Authenticate` and `Location` (`pass`), a `302` to that `Location` (`redirect`), or 503.
    func accessAnswer(_ access: ReadAccess) -> Response {
        switch access {
        case .granted, .notFound:
            return notFound()
        case .unavailable:
            return plain(.serviceUnavailable, "authorisation unavailable, try again shortly\n",
                         extra: [.retryAfter: "5", .cacheControl: "no-store"])
        case .denied(let status, let wwwAuthenticate, let location):
            let mode = configuration.authorization?.denial ?? .notFound
            guard mode != .notFound, status == 401 || status == 403 else { return notFound() }
            var extra: HTTPFields = [.cacheControl: "no-store"]
            if let location, mode == .redirect {
                return redirect(.found, to: location, cacheControl: "no-store")
            }
            if let wwwAuthenticate { extra[.wwwAuthenticate] = wwwAuthenticate }
            if let location { extra[.location] = location }
            return plain(status == 401 ? .unauthorized : .forbidden, status == 401 ? "unauthorized\n" : "forbidden\n", extra: extra)
        }
    }
}
