import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// Settings of `trove serve` (see docs/serve.md for the config keys that set them).
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port = 8080
    /// `Cache-Control` for public projects.
    public var cacheControl = "public, max-age=60"
    /// `Cache-Control` for private projects (shared caches must not keep them).
    public var privateCacheControl = "private, no-cache"
    /// How long a version/alias lookup is trusted before the ref is re-read.
    public var refTTL: Duration = .seconds(5)
    /// Byte budget of the decoded-chunk cache.
    public var cacheBytes = 256 << 20
    public var access = AccessPolicy()
    /// Default versions by project, used when a project has no `latest`.
    public var defaultVersions: [String: String] = [:]
    /// Connections idle for this long are closed: no request, a request sent too slowly, or a response
    /// the client stopped reading (outbound buffer full for this long).
    public var idleTimeout: Duration = .seconds(60)
    /// Bytes read and verified before the status line is sent: errors within them still get a clean
    /// 502/503; a failure after them can only abort the connection.
    public var prefetchBytes = 1 << 20
    public var serverName: String? = "trove"
    public var accessLog = true
    /// Answer GET/HEAD for files that are fully cached and may be read without waiting (public, or
    /// private with a token or a cached `authorization` decision) right in the NIO pipeline, below
    /// Hummingbird's async responder (`FastPathHandler`); false sends every request the slow way.
    public var fastPath = true
    /// How long a manifest that failed to load (missing, oversized, malformed) is answered with 502
    /// from memory before it is fetched again.
    public var manifestFailureTTL: Duration = .seconds(5)
    /// The host application's authorisation endpoint for private projects (`serve.auth_url`), or nil.
    public var authorization: ExternalAuthorization?
    /// Files larger than this are decoded into `fileCacheDirectory` and sent from there with sendfile
    /// by the raw fast path (`FileCache`); `fileCacheBytes` 0 turns that off.
    public var fileCacheThreshold = TroveServer.wholeFileLimit
    public var fileCacheBytes = 1 << 30
    /// nil: `serve-files` in the store's local cache directory.
    public var fileCacheDirectory: String?

    public init() {}
}

/// Why `trove serve` could not start.
public enum ServeError: Error, CustomStringConvertible {
    /// The listen address could not be bound (in use, not an address of this host, no permission).
    case cannotListen(String, String)

    public var description: String {
        switch self { case .cannotListen(let address, let why): "cannot listen on \(address): \(why)" }
    }
}

/// Cache key of a chunk: decoded bytes, or the stored zstd frame (passthrough).
public struct ChunkKey: Hashable, Sendable {
    public var digest: Digest
    public var encoded: Bool
}

/// `trove serve`: published versions over HTTP, straight from the store. Holds no state of its own
/// beyond caches of immutable things (manifests, chunks) and short-lived ref answers.
public final class TroveServer: Sendable {
    public let repository: Repository
    public let configuration: ServeConfiguration
    public let metrics: ServeMetrics
    let cache: ByteCache<ChunkKey>
    let refs: RefResolver
    let lookups = BoundedMap<LookupKey, Lookup>(limit: 50_000)
    /// Fast-path answers by raw request target (`FastRoute`).
    let routes = BoundedMap<String, FastRoute>(limit: 50_000)
    let siteRoots = BoundedMap<Digest, Bool>(limit: 4096)
    let manifests: ManifestLoader
    /// Listings, manifest facts and rendered diffs of the `/_/` catalogue (CatalogueRoutes).
    let catalogueCache = CatalogueCache()
    let reader: ChunkReader
    let readAhead: PackReadAhead
    /// Large files decoded on local disk for sendfile (nil when off or its directory is unusable).
    let fileCache: FileCache?
    let logger: Logger
    let accessLogger: Logger
    /// The access log's handler when it is the JSON lines handler: lines are then written directly.
    let directAccessLog: JSONLogHandler?
    /// Asks `configuration.authorization`'s endpoint; nil without one (or when libcurl could not be
    /// loaded: protected reads then get 503, never the file).
    let authorizer: ExternalAuthorizer?
    /// Lower-cased names of the headers that may grant a read from memory: `authorization` (tokens),
    /// then the endpoint's forwarded headers (`mayReadFromMemory`).
    let credentialNames: [String]

    /// Top-level folders of the Read the Docs layout that are offered under `/_download/`.
    public static let downloadMedia: Set<String> = ["pdf", "epub", "htmlzip", "json"]

    public init(repository: Repository, configuration: ServeConfiguration = ServeConfiguration(),
                logger: Logger = Logger(label: "trove.serve")) {
        self.repository = repository
        self.configuration = configuration
        self.metrics = ServeMetrics()
        self.cache = ByteCache(budget: configuration.cacheBytes, maxEntry: min(configuration.cacheBytes / 8, 4 << 20))
        self.logger = logger
        var access = Logger(label: "trove.serve.access")
        access.logLevel = configuration.accessLog ? .info : .critical
        self.accessLogger = access
        self.directAccessLog = (access.handler as? JSONLogHandler).flatMap { $0.writesPlainLines ? $0 : nil }
        self.manifests = ManifestLoader(repository: repository, failureTTL: configuration.manifestFailureTTL)
        self.refs = RefResolver(repository: repository, ttl: configuration.refTTL, defaults: configuration.defaultVersions, logger: logger)
        var r = ChunkReader(repository: repository)
        r.maxRequestBytes = 1 << 20
        r.readAhead = 2
        self.reader = r
        if let auth = configuration.authorization {
            do { self.authorizer = try ExternalAuthorizer(auth, metrics: metrics, logger: logger) } catch {
                logger.error("serve.auth_url is set but its HTTP client cannot start; protected reads get 503", metadata: ["error": "\(error)"])
                self.authorizer = nil
            }
        } else {
            self.authorizer = nil
        }
        self.credentialNames = ["authorization"] + (authorizer?.headerNames ?? [])
        self.readAhead = PackReadAhead(repository: repository, cache: cache, logger: logger)
        var files: FileCache?
        if configuration.fastPath && configuration.fileCacheBytes > 0 {
            let dir = configuration.fileCacheDirectory ?? repository.cacheDirectory.appendingPathComponent("serve-files").path
            do {
                files = try FileCache(directory: dir, limit: configuration.fileCacheBytes,
                                      threshold: configuration.fileCacheThreshold, metrics: metrics)
            } catch {
                logger.warning("file cache off: its directory is unusable", metadata: ["dir": "\(dir)", "error": "\(error)"])
            }
        }
        self.fileCache = files
    }

    // MARK: Running

    /// The Hummingbird application; `onRunning` gets the bound port.
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        let idle = configuration.idleTimeout.components.seconds
        return Application(
            responder: CallbackResponder { [self] (request: Request, _: BasicRequestContext) in await respond(request) },
            server: HTTPServerBuilder { [self] responder in
                TroveHTTP1Channel(responder: responder, idleTimeout: .seconds(max(1, idle)), fastPath: configuration.fastPath ? self : nil, metrics: metrics)
            },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: configuration.serverName),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Makes SwiftNIO's event loops Swift Concurrency's global executor, so request handlers run on the
    /// thread that owns the connection instead of hopping to the cooperative pool and back (a large share
    /// of per-request cost for small files). Call once, first thing in the process; false if not possible.
    public static func useEventLoopsAsGlobalExecutor() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// Runs until SIGINT or SIGTERM, then stops accepting and lets in-flight requests finish.
    /// Failing to bind throws `ServeError.cannotListen` (one line, not NIO's raw error).
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        do {
            try await application(onRunning: onRunning).runService(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch let e as IOError {
            throw ServeError.cannotListen("\(configuration.host):\(configuration.port)", String(cString: strerror(e.errnoCode)))
        } catch is SocketAddressError {
            throw ServeError.cannotListen("\(configuration.host):\(configuration.port)", "not an address of this host")
        }
    }

    // MARK: Requests

    /// Answers one request. Never throws: every failure becomes a status code.
    public func respond(_ request: Request) async -> Response {
        let start = ContinuousClock.now
        var note = Note()
        let response: Response
        do {
            response = try await route(request, &note)
        } catch {
            response = failure(error, request: request, note: &note)
        }
        let bytes = request.method == .head ? 0 : (response.body.contentLength ?? 0)
        record(method: request.method, path: request.head.path, status: response.status.code, bytes: bytes,
               elapsed: ContinuousClock.now - start, note: note)
        return response
    }

    /// Metrics and the access log line for one answered request (both paths, slow and fast).
    func record(method: HTTPRequest.Method, path: String?, status: Int, bytes: Int, elapsed: Duration, note: Note) {
        metrics.request(status: status, duration: elapsed, bytes: bytes)
        guard configuration.accessLog else { return }
        if let direct = directAccessLog {
            direct.accessLine(bytes: bytes, cache: note.cache, encoding: note.encoding, method: method.rawValue,
                              path: TroveServer.loggablePath(path ?? ""), status: status, us: elapsed.nanoseconds / 1000)
        } else {
            accessLogger.info("request", metadata: [
                "method": "\(method.rawValue)", "path": "\(TroveServer.loggablePath(path ?? ""))",
                "status": "\(status)", "bytes": "\(bytes)", "us": "\(elapsed.nanoseconds / 1000)",
                "cache": "\(note.cache)", "encoding": "\(note.encoding)",
            ])
        }
    }

    /// The request target for logs, the one redaction every log line uses: the value of every query
    /// parameter whose name, decoded and in any case, is `signature` is replaced by `REDACTED` (a signed
    /// URL is a credential until it expires; logs outlive that and travel further), then the result is
    /// cut to 512 bytes.
    static func loggablePath(_ raw: String) -> String {
        guard let q = raw.utf8.firstIndex(of: UInt8(ascii: "?")) else {
            return raw.utf8.count <= 512 ? raw : String(decoding: raw.utf8.prefix(512), as: UTF8.self)
        }
        var out = String(raw[..<q]) + "?"
        var first = true
        for pair in raw[raw.utf8.index(after: q)...].split(separator: "&", omittingEmptySubsequences: false) {
            if !first { out += "&" }
            first = false
            let name = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            let decoded = (String(name).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(name)).lowercased()
            if decoded.trimmingCharacters(in: .whitespaces) == "signature" && pair.contains("=") {
                out += name + "=REDACTED"
            } else {
                out += pair
            }
        }
        return out.utf8.count <= 512 ? out : String(decoding: out.utf8.prefix(512), as: UTF8.self)
    }

    /// What the access log says about a request beyond the status.
    struct Note {
        var cache = "-"
        var encoding = "identity"
    }

    struct Failure: Error {
        var status: HTTPResponse.Status
        var headers: HTTPFields = [:]
    }

    func route(_ request: Request, _ note: inout Note) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return plain(.methodNotAllowed, "method not allowed\n", extra: [.allow: "GET, HEAD"])
        }
        let path: RequestPath
        switch RequestPath.parse(request.head.path ?? "") {
        case .success(let p): path = p
        case .failure(.badRequest): return plain(.badRequest, "bad request\n")
        case .failure(.tooLong): return plain(.uriTooLong, "URI too long\n")
        case .failure(.notFound): return notFound()
        }
        let s = path.segments
        switch s.first {
        case nil:
            return notFound()
        case "healthz" where s.count == 1:
            return plain(.ok, "ok\n", extra: [.cacheControl: "no-store"])
        case "metrics" where s.count == 1:
            metrics.cache(cache.stats)
            var h: HTTPFields = [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"]
            h[.contentLength] = nil
            return Response(status: .ok, headers: h, body: .init(byteBuffer: ByteBuffer(bytes: metrics.render())))
        case "_":
            return try await catalogue(request, path: path)
        case "_download":
            guard s.count >= 5, TroveServer.downloadMedia.contains(s[3]) else { return notFound() }
            return try await serveFile(request, project: s[1], version: s[2], rest: Array(s[4...]), path: path,
                                       download: s[3], urlPrefix: "/_download/\(RequestPath.encode(s[1]))/\(RequestPath.encode(s[2]))/\(RequestPath.encode(s[3]))",
                                       note: &note)
        default:
            let project = s[0]
            if s.count == 1 {
                let access = await readAccess(project: project, headers: request.headers, signed: nil,
                                              subject: AuthSubject(method: request.method.rawValue, uri: request.head.path ?? "",
                                                                   project: project, version: nil, path: nil))
                guard access == .granted else { return accessAnswer(access) }
                guard case .defaultVersion(let v) = try await refs.defaultVersion(project) else { return notFound() }
                return redirect(.found, to: RequestPath.url([project, v], trailingSlash: true), cacheControl: "no-cache")
            }
            return try await serveFile(request, project: project, version: s[1], rest: Array(s[2...]), path: path,
                                       download: nil, urlPrefix: "/\(RequestPath.encode(project))/\(RequestPath.encode(s[1]))",
                                       note: &note)
        }
    }

    /// Serves one file of a version: site paths (`download == nil`) or `/_download/` paths.
    func serveFile(_ request: Request, project: String, version: String, rest: [String], path: RequestPath,
                   download: String?, urlPrefix: String, note: inout Note) async throws -> Response {
        let isPrivate = configuration.access.isPrivate(project)
        let subject = AuthSubject(method: request.method.rawValue, uri: request.head.path ?? "", project: project, version: version,
                                  path: ((download.map { [$0] } ?? []) + rest.map(RequestPath.encode)).joined(separator: "/"))
        // A signature names one file, so it is checked once the file is known; without one, access is
        // decided before the version is even looked up (a denied request learns nothing about it).
        let signed = isPrivate && AccessPolicy.hasSignature(path.query)
        var granted = !isPrivate
        if isPrivate && !signed {
            let access = await readAccess(project: project, headers: request.headers, signed: nil, subject: subject)
            guard access == .granted else { return accessAnswer(access) }
            granted = true
        }
        guard case .version(let digest, _) = try await refs.version(project, version) else {
            if granted { return notFound() }
            let access = await readAccess(project: project, headers: request.headers, signed: nil, subject: subject)
            return accessAnswer(access == .granted ? .notFound : access)
        }
        let manifest = try await manifests.manifest(digest)
        let root: String
        if let download { root = download } else { root = try await siteRoot(manifest) }
        let key = LookupKey(manifest: digest, path: rest.joined(separator: "/"), root: root, slash: path.trailingSlash,
                            index: download == nil)
        let found = try await cachedLookup(manifest, key: key, rest: rest)
        if !granted {
            // A signature can grant only the file it names (a redirect or the site's 404 page needs
            // another grant: a token or the host application).
            var claim: SignedRead? = nil
            if case .file(let entry) = found { claim = SignedRead(query: path.query, version: version, path: entry.path) }
            let access = await readAccess(project: project, headers: request.headers, signed: claim, subject: subject)
            guard access == .granted else { return accessAnswer(access) }
        }
        switch found {
        case .notFound:
            guard download == nil else { return notFound() }
            return try await siteNotFound(manifest, digest: digest, root: root, isPrivate: isPrivate, request: request)
        case .addSlash:
            var location = urlPrefix + (rest.isEmpty ? "" : "/" + rest.map(RequestPath.encode).joined(separator: "/")) + "/"
            if let q = path.query, !q.isEmpty { location += "?" + q }
            return redirect(.movedPermanently, to: location, cacheControl: cacheControl(for: project))
        case .file(let entry):
            if request.method == .get, entry.size <= readAhead.block { await readAhead.prepare(manifest, entry.chunks) }
            return try await send(entry, request: request, status: .ok, cacheControl: cacheControl(for: project), note: &note)
        }
    }

    /// `Cache-Control` of a project's files: `serve.cache_control`, or `private, no-cache` for private projects.
    func cacheControl(for project: String) -> String {
        configuration.access.isPrivate(project) ? configuration.privateCacheControl : configuration.cacheControl
    }

    /// Whether any project is private (the raw fast path then keeps each head for `mayReadFromMemory`).
    var hasPrivateProjects: Bool { !configuration.access.privateProjects.isEmpty }

    /// "html" when the version has an `html/` tree (the Read the Docs layout), else "" (served as published).
    func siteRoot(_ m: Manifest) async throws -> String {
        if let known = siteRoots.get(m.digest) { return known ? "html" : "" }
        let hasHTML = try await BlockingIO.run { try m.file(at: "html")?.kind == .dir } // (SQLite: off the event loop)
        siteRoots.put(m.digest, hasHTML)
        return hasHTML ? "html" : ""
    }

    /// The site's own `404.html` (at its root) with status 404, or the plain 404.
    func siteNotFound(_ m: Manifest, digest: Digest, root: String, isPrivate: Bool, request: Request) async throws -> Response {
        let key = LookupKey(manifest: digest, path: "\u{0}404", root: root, slash: false, index: false)
        let found = try await cachedLookup(m, key: key, rest: ["404.html"])
        guard case .file(let entry) = found else { return notFound() }
        var note = Note()
        return try await send(entry, request: request, status: .notFound,
                              cacheControl: isPrivate ? configuration.privateCacheControl : "no-cache", note: &note)
    }

    // MARK: Responses

    func plain(_ status: HTTPResponse.Status, _ text: String, extra: HTTPFields = [:]) -> Response {
        var h: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        h.append(contentsOf: extra)
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// The one 404 for everything that does not exist or may not be seen (identical either way).
    func notFound() -> Response {
        plain(.notFound, "not found\n", extra: [.cacheControl: "no-cache"])
    }

    func redirect(_ status: HTTPResponse.Status, to location: String, cacheControl: String) -> Response {
        Response(status: status, headers: [.location: location, .cacheControl: cacheControl, .contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: "moved to \(location)\n")))
    }

    /// Maps an error to a status: store outage 503 (with Retry-After), corrupt or inconsistent store 502.
    func failure(_ error: any Error, request: Request, note: inout Note) -> Response {
        let path = TroveServer.loggablePath(request.head.path ?? "")
        switch error {
        case BlobStoreError.transient(let m):
            metrics.storeError("unavailable")
            logger.error("store unavailable", metadata: ["path": "\(path)", "error": "\(m)"])
            return plain(.serviceUnavailable, "store unavailable, try again shortly\n", extra: [.retryAfter: "5", .cacheControl: "no-store"])
        case let e as RepositoryError:
            if case .corrupt = e { metrics.storeError("corrupt") } else { metrics.storeError("inconsistent") }
            logger.error("corrupt or inconsistent store object", metadata: ["path": "\(path)", "error": "\(e)"])
            return plain(.badGateway, "stored data failed verification\n", extra: [.cacheControl: "no-store"])
        case let e as BlobStoreError:
            metrics.storeError("store")
            logger.error("store error", metadata: ["path": "\(path)", "error": "\(e)"])
            return plain(.badGateway, "store error\n", extra: [.cacheControl: "no-store"])
        case let e as ManifestError:
            metrics.storeError("manifest")
            logger.error("unreadable manifest", metadata: ["path": "\(path)", "error": "\(e)"])
            return plain(.badGateway, "stored data failed verification\n", extra: [.cacheControl: "no-store"])
        default:
            metrics.storeError("other")
            logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            return plain(.internalServerError, "internal error\n", extra: [.cacheControl: "no-store"])
        }
    }
}
