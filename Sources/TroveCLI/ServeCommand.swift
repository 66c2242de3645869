import ArgumentParser
import Foundation
import Logging
import TroveRepository
import TroveHTTP
import TroveServe
import TroveStorage

/// `trove serve`
struct ServeCommand: TroveSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve published versions over HTTP (see docs/serve.md).",
        discussion: """
        URLs: /<project>/ redirects to the default version; /<project>/<version-or-alias>/<path> serves the
        version's html/ tree when it has one (else the tree as published); /_download/<project>/<version>/<media>/<file>
        serves pdf, epub, htmlzip and json. /healthz and /metrics are for operators. Stops gracefully on SIGINT/SIGTERM.
        """)

    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Address to listen on (serve.listen; default 127.0.0.1:8080).", valueName: "host:port"))
    var listen: String?
    @Option(help: ArgumentHelp("Memory for decoded chunks (serve.cache_bytes; default 256MiB).", valueName: "size"))
    var cacheBytes: String?
    @Option(help: ArgumentHelp("How long a version lookup is trusted (serve.ref_ttl; default 5s).", valueName: "duration"))
    var refTTL: String?
    @Flag(help: "Do not write the access log (serve.access_log).") var noAccessLog = false

    /// Own run: logs are JSON lines, the access log on stdout at info level, everything else on stderr.
    func run() async throws {
        let onLoops = TroveServer.useEventLoopsAsGlobalExecutor()
        let verbose = global.verbose
        // JSON lines: the access log on stdout, everything else on stderr.
        LoggingSystem.bootstrap { label in
            if label == "trove.serve.access" { return JSONLogHandler(label: label, stream: .standardOutput, level: .info) }
            return JSONLogHandler(label: label, stream: .standardError, level: verbose ? .debug : .info)
        }
        Logger(label: "trove.serve").debug("executor", metadata: ["event_loops_as_global_executor": "\(onLoops)"])
        try await runReportingErrors()
    }

    func execute(_ ctx: StoreContext) async throws -> ExitStatus {
        var c = ServeConfiguration()
        let (listenAt, listenSource) = ctx.settings.lookup("serve.listen", flag: listen) ?? ("127.0.0.1:8080", .fallback("the default address"))
        guard let colon = listenAt.lastIndex(of: ":"), let port = SettingValue.integer(String(listenAt[listenAt.index(after: colon)...]), in: 0...65535) else {
            throw CLIError.usage("\(listenSource) takes HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:80; got '\(Output.safe(listenAt))'")
        }
        c.host = String(listenAt[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if c.host.isEmpty { c.host = "0.0.0.0" }
        c.port = port
        let settings = ctx.settings
        if let n = try settings.size("serve.cache_bytes", flag: cacheBytes) { c.cacheBytes = n }
        if let d = try settings.duration("serve.ref_ttl", flag: refTTL) { c.refTTL = d }
        if let d = try settings.duration("serve.idle_timeout") { c.idleTimeout = d }
        if let s = settings.string("serve.cache_control") { c.cacheControl = s }
        c.accessLog = try !noAccessLog && (settings.bool("serve.access_log") ?? true)
        c.fastPath = try settings.bool("serve.fast_path") ?? true
        if let n = try settings.size("serve.file_cache_bytes") { c.fileCacheBytes = n }
        if let n = try settings.size("serve.file_cache_threshold") { c.fileCacheThreshold = n }
        if let d = settings.string("serve.file_cache_dir"), !d.isEmpty { c.fileCacheDirectory = d }
        for entry in try settings.list("serve.default_versions") {
            let kv = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            c.defaultVersions[kv[0]] = kv[1]
        }
        let tokens = Settings.commaList(settings.string("serve.tokens") ?? "")
        let privateProjects = Set(try settings.list("serve.private_projects"))
        let signingKey = settings.string("serve.signing_key").flatMap { $0.isEmpty ? nil : $0 }
        c.access = AccessPolicy(privateProjects: privateProjects, tokens: tokens, signingKey: signingKey)
        if let url = settings.string("serve.auth_url"), try settings.value("serve.auth_url") != nil {
            var auth = ExternalAuthorization(url: url.trimmingCharacters(in: .whitespaces))
            if case .list(let names)? = try settings.value("serve.auth_headers") { auth.forwardedHeaders = names }
            if let d = settings.string("serve.auth_denied"), let mode = ExternalAuthorization.Denial(rawValue: d.trimmingCharacters(in: .whitespaces)) {
                auth.denial = mode
            }
            if let d = try settings.duration("serve.auth_ttl") { auth.ttl = d }
            if let n = try settings.integer("serve.auth_cache_entries") { auth.maxEntries = n }
            if let d = try settings.duration("serve.auth_timeout") { auth.timeout = d }
            // The endpoint is reached through libcurl: without it, stop now (exit 69) rather than 503 every protected read.
            try CurlLibrary.load()
            c.authorization = auth
        }
        let logger = Logger(label: "trove.serve")
        if !privateProjects.isEmpty && tokens.isEmpty && signingKey == nil && c.authorization == nil {
            logger.warning("private projects are configured but none of serve.tokens, serve.signing_key or serve.auth_url: they are unreachable")
        }
        if privateProjects.isEmpty && c.authorization != nil {
            logger.warning("serve.auth_url is set but serve.private_projects is empty: the endpoint is asked about private projects only, so it is never asked")
        }
        // A listed project that does not exist is most likely a typo, and the project meant stays public.
        let existing = Set(try await ctx.repository.projects())
        for p in privateProjects.sorted() where !existing.contains(p) {
            logger.warning("serve.private_projects lists a project the store does not have (yet): check the spelling; until it exists this entry protects nothing",
                           metadata: ["project": "\(p)"])
        }
        // Serving wants quick answers: a few fast retries, then 503 with Retry-After (the client retries).
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500), totalTimeout: .seconds(3))
        let repository = Repository(store: RetryingBlobStore(ctx.metered, policy: policy, logger: Logger(label: "trove.store")),
                                    cacheDirectory: ctx.repository.cacheDirectory)
        let server = TroveServer(repository: repository, configuration: c, logger: logger)
        do { try await server.run() } catch let e as ServeError {
            throw CLIError.system("\(e) (\(listenSource))")
        }
        return .ok
    }
}
