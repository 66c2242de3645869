import CoreMetrics
import Metrics
import Prometheus
import Synchronization

/// The server's metrics, recorded through swift-metrics into its own Prometheus registry (no global
/// bootstrap, so several servers can live in one process, as in the tests). Exposed at `/metrics`.
public final class ServeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let requestCounters = Mutex<[Int: CoreMetrics.Counter]>([:])
    let latency: CoreMetrics.Timer
    let bytesOut: CoreMetrics.Counter
    let cacheHits: CoreMetrics.Counter
    let cacheMisses: CoreMetrics.Counter
    let cacheRatio: CoreMetrics.Gauge
    let cacheBytes: CoreMetrics.Gauge
    /// Requests answered by the fast path (also counted in `trove_serve_requests_total`).
    let fastPath: CoreMetrics.Counter
    /// Of those, the requests answered from the socket's bytes, before the HTTP decoder (`RawFastPathHandler`).
    let rawFastPath: CoreMetrics.Counter
    /// Connections closed because the client stopped reading a response (`WriteStallHandler`).
    let writeStalls: CoreMetrics.Counter
    private let storeErrorCounters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let reportedCache = Mutex<(hits: Int, misses: Int)>((0, 0))

    public init() {
        registry = PrometheusCollectorRegistry()
        var f = PrometheusMetricsFactory(registry: registry)
        f.durationHistogramBuckets["trove_serve_request_duration_seconds"] = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        factory = f
        latency = CoreMetrics.Timer(label: "trove_serve_request_duration_seconds", dimensions: [], factory: f)
        bytesOut = CoreMetrics.Counter(label: "trove_serve_response_bytes_total", dimensions: [], factory: f)
        cacheHits = CoreMetrics.Counter(label: "trove_serve_chunk_cache_hits_total", dimensions: [], factory: f)
        cacheMisses = CoreMetrics.Counter(label: "trove_serve_chunk_cache_misses_total", dimensions: [], factory: f)
        cacheRatio = CoreMetrics.Gauge(label: "trove_serve_chunk_cache_hit_ratio", dimensions: [], factory: f)
        cacheBytes = CoreMetrics.Gauge(label: "trove_serve_chunk_cache_bytes", dimensions: [], factory: f)
        fastPath = CoreMetrics.Counter(label: "trove_serve_fast_path_requests_total", dimensions: [], factory: f)
        rawFastPath = CoreMetrics.Counter(label: "trove_serve_fast_path_raw_requests_total", dimensions: [], factory: f)
        writeStalls = CoreMetrics.Counter(label: "trove_serve_write_stall_disconnects_total", dimensions: [], factory: f)
    }

    func request(status: Int, duration: Duration, bytes: Int) {
        let c = requestCounters.withLock { m in
            if let c = m[status] { return c }
            let c = CoreMetrics.Counter(label: "trove_serve_requests_total", dimensions: [("status", String(status))], factory: factory)
            m[status] = c
            return c
        }
        c.increment()
        latency.recordNanoseconds(duration.nanoseconds)
        if bytes > 0 { bytesOut.increment(by: bytes) }
    }

    func storeError(_ kind: String) {
        let c = storeErrorCounters.withLock { m in
            if let c = m[kind] { return c }
            let c = CoreMetrics.Counter(label: "trove_serve_store_errors_total", dimensions: [("kind", kind)], factory: factory)
            m[kind] = c
            return c
        }
        c.increment()
    }

    /// Brings the cache counters up to date (called on every scrape of `/metrics`).
    func cache(_ stats: ByteCache<ChunkKey>.Stats) {
        let (dh, dm) = reportedCache.withLock { last in
            defer { last = (stats.hits, stats.misses) }
            return (stats.hits - last.hits, stats.misses - last.misses)
        }
        if dh > 0 { cacheHits.increment(by: dh) }
        if dm > 0 { cacheMisses.increment(by: dm) }
        let total = stats.hits + stats.misses
        cacheRatio.record(total == 0 ? 0 : Double(stats.hits) / Double(total))
        cacheBytes.record(stats.bytes)
    }

    /// The external authorisation metrics (`ExternalAuthorizer`): decisions by outcome and source, and
    /// the subrequest latency. Made once, by the authorizer, so servers without one do not show them.
    struct AuthMetrics: Sendable {
        /// `trove_serve_auth_decisions_total{outcome, source}`, by "outcome/source".
        let decisions: [String: CoreMetrics.Counter]
        let latency: CoreMetrics.Timer
        /// `decisions["allowed/cache"]`, held directly: the fast path counts one per answer.
        let allowedFromCache: CoreMetrics.Counter?

        func decision(_ outcome: String, _ source: String) { decisions[outcome + "/" + source]?.increment() }
    }

    func authMetrics() -> AuthMetrics {
        var f = factory
        f.durationHistogramBuckets["trove_serve_auth_subrequest_duration_seconds"] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
            .seconds(2.5), .seconds(5), .seconds(10),
        ]
        var decisions: [String: CoreMetrics.Counter] = [:]
        for outcome in ["allowed", "denied", "unavailable"] {
            for source in ["cache", "subrequest", "shared"] {
                decisions[outcome + "/" + source] = CoreMetrics.Counter(
                    label: "trove_serve_auth_decisions_total", dimensions: [("outcome", outcome), ("source", source)], factory: f)
            }
        }
        return AuthMetrics(decisions: decisions,
                           latency: CoreMetrics.Timer(label: "trove_serve_auth_subrequest_duration_seconds", dimensions: [], factory: f),
                           allowedFromCache: decisions["allowed/cache"])
    }

    /// The Prometheus text exposition.
    public func render() -> [UInt8] { registry.emitToBuffer() }
}

extension Duration {
    var nanoseconds: Int64 {
        let c = components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }
}
