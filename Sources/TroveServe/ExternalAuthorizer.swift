import Foundation
import Logging
import Synchronization
import TroveContent
import TroveHTTP

/// Settings of the host application's authorisation endpoint (`serve.auth_*`, docs/serve.md,
/// "External authorisation"). The defaults here are the only ones; the CLI overrides them from config.
public struct ExternalAuthorization: Sendable {
    /// What an unauthorised reader of a protected project gets when the endpoint says 401 or 403.
    public enum Denial: String, Sendable, CaseIterable {
        /// The plain 404 of a project that does not exist (the name does not leak).
        case notFound = "404"
        /// The endpoint's 401 or 403, with its `WWW-Authenticate` and `Location`.
        case pass
        /// As `pass`, except that a denial carrying a `Location` becomes a `302` to it (browser logins).
        case redirect
    }

    /// The endpoint: `http://` or `https://`; it gets a GET per decision that is not cached.
    public var url: String
    /// Request headers forwarded to the endpoint, and only these (they also key the decision cache).
    public var forwardedHeaders: [String] = ["Cookie", "Authorization"]
    public var denial: Denial = .notFound
    /// How long a decision (2xx, 401 or 403) is reused for the same project and credentials; zero caches nothing.
    public var ttl: Duration = .seconds(30)
    /// Decisions kept at most (the oldest go first).
    public var maxEntries = 10_000
    /// A subrequest without an answer after this long is a 503 (as is a refused connection).
    public var timeout: Duration = .seconds(2)

    public init(url: String) { self.url = url }
}

/// One decision of the host application, as Trove keeps it.
enum AuthDecision: Sendable, Equatable {
    case allowed
    /// 401 or 403, with the headers `pass`/`redirect` answers carry.
    case denied(status: Int, wwwAuthenticate: String?, location: String?)
    /// Any other status, a timeout, a dead endpoint: never cached, answered with 503.
    case unavailable

    /// The label `trove_serve_auth_decisions_total{outcome}` uses.
    var outcome: String {
        switch self {
        case .allowed: "allowed"
        case .denied: "denied"
        case .unavailable: "unavailable"
        }
    }
}

/// What the endpoint is told about one request (all but the credentials, which `AuthCredentials` holds).
struct AuthSubject: Sendable {
    var method: String
    /// The request target as received (path and query).
    var uri: String
    var project: String
    /// nil for `/<project>/` (no version named yet).
    var version: String?
    /// The path after the version, percent-encoded as in a URL (`intro/index.html`; `pdf/x.pdf` for downloads).
    var path: String?
}

/// The values of the forwarded headers of one request, in configured order (nil: absent). The decision
/// cache is keyed by their SHA-256 with the project, so the values themselves are never kept.
struct AuthCredentials: Sendable {
    var values: [String?]

    /// SHA-256 of the project and each value, marked present or absent and NUL-terminated (header
    /// values and project names hold no NUL, so distinct inputs cannot run together).
    func key(project: String) -> Digest {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(project.utf8.count + 1 + values.reduce(0) { $0 + ($1?.utf8.count ?? 0) + 2 })
        bytes.append(contentsOf: project.utf8)
        bytes.append(0)
        for v in values {
            if let v {
                bytes.append(1)
                bytes.append(contentsOf: v.utf8)
            } else {
                bytes.append(2)
            }
            bytes.append(0)
        }
        return Digest.sha256(bytes)
    }
}

/// Asks the host application whether a request may read a protected project (nginx's `auth_request`):
/// a GET to `serve.auth_url` with the original method, URI, project, version and path, and only the
/// configured credential headers. Decisions are cached per (project, SHA-256 of the credentials) for
/// the TTL, bounded in number; concurrent identical checks share one subrequest. The subrequest runs on
/// the libcurl engine's own thread (`CurlHTTPClient`), never on an event loop or the cooperative pool.
/// Credentials are never logged or put in an error; the cache holds only their SHA-256.
final class ExternalAuthorizer: Sendable {
    let settings: ExternalAuthorization
    /// Lower-cased forwarded header names, in configured order (the order of `AuthCredentials.values`).
    let headerNames: [String]
    private let client: CurlHTTPClient
    private let metrics: ServeMetrics.AuthMetrics
    private let logger: Logger
    /// The endpoint's scheme, host and port: the only part of `url` that logs name (its path or query may hold a key).
    let origin: String
    private let state = Mutex(State())
    /// Requests waiting for a subrequest another request started (tests watch it).
    private let sharing = Atomic<Int>(0)
    private let lastWarning = Mutex<(at: ContinuousClock.Instant?, suppressed: Int)>((nil, 0))

    /// Where a decision came from (`trove_serve_auth_decisions_total{source}`).
    enum Source: String, Sendable { case cache, subrequest, shared }

    private struct Entry {
        var decision: AuthDecision
        var expires: ContinuousClock.Instant
        var serial: Int
    }

    private struct State {
        var entries: [Digest: Entry] = [:]
        /// Insertion order for eviction; stale pairs (re-inserted keys) are skipped.
        var order: [(key: Digest, serial: Int)] = []
        var orderStart = 0
        var serial = 0
        var inFlight: [Digest: Task<AuthDecision, Never>] = [:]
    }

    /// Throws when libcurl cannot be loaded.
    init(_ settings: ExternalAuthorization, metrics: ServeMetrics, logger: Logger) throws {
        self.settings = settings
        self.headerNames = settings.forwardedHeaders.map { $0.lowercased() }
        var c = CurlHTTPClient.Configuration()
        c.maxConnections = 64
        c.connectTimeout = settings.timeout
        c.requestTimeout = settings.timeout
        c.lowSpeedTime = settings.timeout
        // The decision is the status and two headers; a larger body is a misconfigured endpoint.
        c.maxResponseBytes = 64 << 10
        self.client = try CurlHTTPClient(configuration: c)
        self.metrics = metrics.authMetrics()
        self.logger = logger
        if let u = URLComponents(string: settings.url), let scheme = u.scheme, let host = u.host {
            origin = u.port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
        } else {
            origin = "the auth endpoint"
        }
    }

    deinit { client.shutdown() }

    /// The cached decision for `key`, if one is still fresh (the fast path's question: no waiting).
    func cached(_ key: Digest, now: ContinuousClock.Instant = .now) -> AuthDecision? {
        state.withLock { s in
            guard let e = s.entries[key], e.expires > now else { return nil }
            return e.decision
        }
    }

    /// Counts an allowing decision taken from the cache outside `decide` (a fast-path answer).
    func countAllowedFromCache() { metrics.allowedFromCache?.increment() }

    /// The decision for `subject` with these credentials: from the cache, from a subrequest already in
    /// flight for the same key, or from a new subrequest.
    func decide(_ subject: AuthSubject, credentials: AuthCredentials) async -> AuthDecision {
        let key = credentials.key(project: subject.project)
        let now = ContinuousClock.now
        let (known, task, source): (AuthDecision?, Task<AuthDecision, Never>?, Source) = state.withLock { s in
            if let e = s.entries[key], e.expires > now { return (e.decision, nil, .cache) }
            if let t = s.inFlight[key] { return (nil, t, .shared) }
            let t = Task { await self.ask(subject, credentials: credentials, key: key) }
            s.inFlight[key] = t
            return (nil, t, .subrequest)
        }
        let decision: AuthDecision
        if let known {
            decision = known
        } else if let task {
            if source == .shared { sharing.add(1, ordering: .relaxed) }
            decision = await task.value
            if source == .shared { sharing.subtract(1, ordering: .relaxed) }
        } else {
            decision = .unavailable
        }
        metrics.decision(decision.outcome, source.rawValue)
        return decision
    }

    /// One subrequest; stores its decision (unless unavailable) and clears the in-flight entry.
    private func ask(_ subject: AuthSubject, credentials: AuthCredentials, key: Digest) async -> AuthDecision {
        var headers: [(name: String, value: String)] = [
            ("X-Original-Method", subject.method),
            ("X-Original-URI", subject.uri),
            ("X-Trove-Project", subject.project),
        ]
        if let v = subject.version { headers.append(("X-Trove-Version", v)) }
        if let p = subject.path { headers.append(("X-Trove-Path", p)) }
        for (name, value) in zip(settings.forwardedHeaders, credentials.values) {
            if let value { headers.append((name, value)) }
        }
        let start = ContinuousClock.now
        let decision: AuthDecision
        do {
            let r = try await client.send(TroveHTTP.HTTPRequest(method: "GET", url: settings.url, headers: headers))
            metrics.latency.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            switch r.status {
            case 200..<300:
                decision = .allowed
            case 401, 403:
                decision = .denied(status: r.status, wwwAuthenticate: r.header("WWW-Authenticate"), location: r.header("Location"))
            default:
                decision = .unavailable
                warn("auth endpoint answered an unexpected status; answering 503", ["status": "\(r.status)"])
            }
        } catch let e as HTTPClientError {
            metrics.latency.recordNanoseconds((ContinuousClock.now - start).nanoseconds)
            decision = .unavailable
            // The description names the origin and the cause, never a header.
            warn("auth endpoint unreachable; answering 503", ["error": "\(e)"])
        } catch {
            decision = .unavailable
            warn("auth subrequest failed; answering 503", ["error": "\(type(of: error))"])
        }
        let expires = ContinuousClock.now + settings.ttl
        state.withLock { s in
            s.inFlight[key] = nil
            guard decision != .unavailable, settings.ttl > .zero, settings.maxEntries > 0 else { return }
            s.serial += 1
            s.entries[key] = Entry(decision: decision, expires: expires, serial: s.serial)
            s.order.append((key, s.serial))
            while s.entries.count > settings.maxEntries, s.orderStart < s.order.count {
                let (old, serial) = s.order[s.orderStart]
                s.orderStart += 1
                if s.entries[old]?.serial == serial { s.entries[old] = nil }
            }
            // The queue also collects stale pairs (a key decided again after its TTL): rebuild it from
            // the live entries once it holds twice as many, so it stays proportional to the cache.
            if s.order.count - s.orderStart > 2 * max(s.entries.count, 512) {
                s.order = s.entries.map { (key: $0.key, serial: $0.value.serial) }.sorted { $0.serial < $1.serial }
                s.orderStart = 0
            }
        }
        return decision
    }

    /// Decisions held (tests).
    var count: Int { state.withLock { $0.entries.count } }

    /// Requests now waiting for a subrequest started by another (tests).
    var waiting: Int { sharing.load(ordering: .relaxed) }

    /// At most one warning a second while the endpoint fails (every protected request would log one).
    private func warn(_ message: Logger.Message, _ metadata: Logger.Metadata) {
        let now = ContinuousClock.now
        let suppressed: Int? = lastWarning.withLock { w in
            if let at = w.at, now - at < .seconds(1) { w.suppressed += 1; return nil }
            defer { w = (now, 0) }
            return w.suppressed
        }
        guard let suppressed else { return }
        var m = metadata
        m["endpoint"] = "\(origin)"
        if suppressed > 0 { m["suppressed"] = "\(suppressed)" }
        logger.warning(message, metadata: m)
    }
}
