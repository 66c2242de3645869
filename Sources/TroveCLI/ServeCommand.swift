import ArgumentParser
import Foundation
import Logging
import TroveRepository
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
        let listenAt = listen ?? ctx.setting("serve.listen") ?? "127.0.0.1:8080"
        guard let colon = listenAt.lastIndex(of: ":"), let port = Int(listenAt[listenAt.index(after: colon)...]), (0...65535).contains(port) else {
            throw CLIError.usage("--listen takes HOST:PORT, e.g. 127.0.0.1:8080 or 0.0.0.0:80; got \(listenAt)")
        }
        c.host = String(listenAt[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if c.host.isEmpty { c.host = "0.0.0.0" }
        c.port = port
        if let s = cacheBytes ?? ctx.setting("serve.cache_bytes") {
            guard let n = ByteSize.parse(s) else { throw CLIError.usage("--cache-bytes takes a size such as 256MiB, got \(s)") }
            c.cacheBytes = n
        }
        if let s = refTTL ?? ctx.setting("serve.ref_ttl") {
            guard let d = DurationParser.parse(s) else { throw CLIError.usage("--ref-ttl takes a duration such as 5s, got \(s)") }
            c.refTTL = d
        }
        if let s = ctx.setting("serve.idle_timeout") {
            guard let d = DurationParser.parse(s) else { throw CLIError.usage("serve.idle_timeout takes a duration such as 60s, got \(s)") }
            c.idleTimeout = d
        }
        if let s = ctx.setting("serve.cache_control") { c.cacheControl = s }
        c.accessLog = !noAccessLog && (ctx.setting("serve.access_log").map { $0.lowercased() != "false" } ?? true)
        c.fastPath = ctx.setting("serve.fast_path").map { $0.lowercased() != "false" } ?? true
        for entry in AccessPolicy.list(ctx.setting("serve.default_versions")) {
            let kv = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2 else { throw CLIError.config("serve.default_versions takes PROJECT=VERSION entries, got \(entry)") }
            c.defaultVersions[kv[0]] = kv[1]
        }
        let tokens = AccessPolicy.list(ctx.setting("serve.tokens"))
        let privateProjects = Set(AccessPolicy.list(ctx.setting("serve.private_projects")))
        c.access = AccessPolicy(privateProjects: privateProjects, tokens: tokens, signingKey: ctx.setting("serve.signing_key"))
        let logger = Logger(label: "trove.serve")
        if !privateProjects.isEmpty && tokens.isEmpty && ctx.setting("serve.signing_key") == nil {
            logger.warning("private projects are configured but neither serve.tokens nor serve.signing_key: they are unreachable")
        }
        // Serving wants quick answers: a few fast retries, then 503 with Retry-After (the client retries).
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(50), maxDelay: .milliseconds(500), totalTimeout: .seconds(3))
        let repository = Repository(store: RetryingBlobStore(ctx.metered, policy: policy, logger: Logger(label: "trove.store")),
                                    cacheDirectory: ctx.repository.cacheDirectory)
        let server = TroveServer(repository: repository, configuration: c, logger: logger)
        try await server.run()
        return .ok
    }
}
