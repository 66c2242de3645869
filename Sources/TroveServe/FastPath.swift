import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

// The fast path: GET/HEAD requests for public files whose answer is entirely in memory (fresh ref
// answer, cached path lookup, cached whole-file bytes or verified zstd frame) are answered right in the
// NIO pipeline, synchronously, without entering Hummingbird's async responder. Everything else (misses,
// stale refs, private projects, ranges, redirects, 404s, /metrics, requests with bodies, anything
// unusual) goes to Hummingbird unchanged. The answer is the one the slow path would give: same status,
// headers and body (see `send`), same metrics and access log line.

/// One answer made by the fast path.
struct FastReply {
    var status: HTTPResponse.Status
    /// Everything except `Date` and `Server`, which are added when it is written.
    var headers: HTTPFields
    /// nil for HEAD and 304.
    var body: ByteBuffer?
    var note: TroveServer.Note
}

extension TroveServer {
    static let fastHealthz: FastReply = {
        var h: HTTPFields = [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"]
        h[.contentLength] = "3"
        return FastReply(status: .ok, headers: h, body: ByteBuffer(string: "ok\n"), note: Note())
    }()

    /// The answer for `request` if it can be given from memory alone, else nil (the slow path answers).
    func fastReply(_ request: HTTPRequest) -> FastReply? {
        let isHead: Bool
        switch request.method {
        case .get: isHead = false
        case .head: isHead = true
        default: return nil
        }
        let fields = request.headerFields
        guard let target = request.path, fields[.range] == nil, fields[.contentLength] == nil,
              fields[.transferEncoding] == nil, fields[.expect] == nil else { return nil }
        if let c = fields[.connection], c.lowercased() != "keep-alive" { return nil }
        guard case .success(let path) = RequestPath.parse(target) else { return nil }
        let s = path.segments
        guard let first = s.first else { return nil }
        let project: String, version: String, download: String?, rest: ArraySlice<String>
        if first == "_download" {
            guard s.count >= 5, TroveServer.downloadMedia.contains(s[3]) else { return nil }
            (project, version, download, rest) = (s[1], s[2], s[3], s[4...])
        } else if s.count >= 2 {
            (project, version, download, rest) = (s[0], s[1], nil, s[2...])
        } else {
            // The slow path sends a body for HEAD /healthz too; leave HEAD to it.
            return first == "healthz" && !isHead ? TroveServer.fastHealthz : nil
        }
        // Private projects always go the slow way (tokens, signatures, identical 404s).
        guard !configuration.access.isPrivate(project),
              case .version(let digest, _)? = refs.freshVersion(project, version, now: .now) else { return nil }
        let root: String
        if let download { root = download } else {
            guard let known = siteRoots.get(digest) else { return nil }
            root = known ? "html" : ""
        }
        let key = LookupKey(manifest: digest, path: rest.joined(separator: "/"), root: root, slash: path.trailingSlash,
                            index: download == nil)
        guard case .file(let entry)? = lookups.get(key) else { return nil }

        // From here on, exactly what `send` does for a public file with status 200 and no Range.
        let cacheControl = configuration.cacheControl
        let useZstd = entry.passthrough && TroveServer.acceptsZstd(fields[.acceptEncoding])
        let etag = useZstd ? entry.zstdETag : entry.etag
        var note = Note()
        if let inm = fields[.ifNoneMatch], TroveServer.matches(inm, etag) {
            var h: HTTPFields = [.eTag: etag, .cacheControl: cacheControl]
            if entry.passthrough { h[.vary] = "Accept-Encoding" }
            h[.contentLength] = "0"
            return FastReply(status: .notModified, headers: h, body: nil, note: note)
        }
        let body: ByteBuffer
        if useZstd {
            guard let b = cache.hit(ChunkKey(digest: entry.chunks[0].digest, encoded: true)) else { return nil }
            body = b
            note.cache = "hit"
            note.encoding = "zstd"
        } else if isHead {
            body = ByteBuffer()
        } else if entry.size == 0 {
            body = ByteBuffer()
        } else {
            guard let key = entry.wholeKey, let b = cache.hit(key) else { return nil }
            body = b
            note.cache = "hit"
        }
        var h: HTTPFields = [.contentType: entry.contentType, .cacheControl: cacheControl]
        if entry.passthrough { h[.vary] = "Accept-Encoding" }
        h[.eTag] = etag
        h[.acceptRanges] = "bytes"
        if useZstd { h[.contentEncoding] = "zstd" }
        h[.contentLength] = String(useZstd || !isHead ? body.readableBytes : entry.size)
        return FastReply(status: .ok, headers: h, body: isHead ? nil : body, note: note)
    }
}

/// The fast path in the channel pipeline, after Hummingbird's connection state handler and before its
/// async channel. HTTP pipelining order: a request is answered here only when no earlier request of the
/// connection is still with Hummingbird; once one is passed on, every later request follows it until
/// its response has been written (`.end` seen going out).
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private enum Mode {
        case idle
        /// Answered; the reply goes out when the request's `.end` arrives.
        case fast(FastReply, HTTPRequest, ContinuousClock.Instant)
        case forwarding
    }

    let server: TroveServer
    private var mode = Mode.idle
    /// Requests passed to Hummingbird whose response has not been written completely.
    private var inFlight = 0
    private var date = HTTPDate()

    init(server: TroveServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            let start = ContinuousClock.now
            // Not while the client is not reading (Hummingbird's writer applies back-pressure; this does not).
            if inFlight == 0, context.channel.isWritable, let reply = server.fastReply(request) {
                mode = .fast(reply, request, start)
                return
            }
            inFlight += 1
            mode = .forwarding
            context.fireChannelRead(data)
        case .body:
            // A fast request has no body (requests with Content-Length or Transfer-Encoding go the slow way).
            if case .fast = mode { return }
            context.fireChannelRead(data)
        case .end:
            if case .fast(let reply, let request, let start) = mode {
                mode = .idle
                send(reply, for: request, start: start, context: context)
                return
            }
            mode = .idle
            context.fireChannelRead(data)
        }
    }

    private func send(_ reply: FastReply, for request: HTTPRequest, start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var headers = reply.headers
        headers[.date] = date.now()
        if let name = server.configuration.serverName { headers[.server] = name }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: reply.status, headerFields: headers))), promise: nil)
        var bytes = 0
        if let body = reply.body, body.readableBytes > 0 {
            bytes = body.readableBytes
            context.write(wrapOutboundOut(.body(body)), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        server.metrics.fastPath.increment()
        server.record(method: request.method, path: request.path, status: reply.status.code, bytes: bytes,
                      elapsed: ContinuousClock.now - start, note: reply.note)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // (Hummingbird's 400 for a request that never parsed was not counted in; the connection closes then.)
        if case .end = unwrapOutboundIn(data), inFlight > 0 { inFlight -= 1 }
        context.write(data, promise: promise)
    }
}

/// The RFC 9110 `Date` value, formatted at most once per second.
struct HTTPDate {
    private var second = 0
    private var text = ""

    mutating func now() -> String {
        let t = time(nil)
        if Int(t) != second || text.isEmpty {
            second = Int(t)
            text = HTTPDate.format(t)
        }
        return text
    }

    static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT`
    static func format(_ t: time_t) -> String {
        var t = t
        var p = tm()
        gmtime_r(&t, &p)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(p.tm_wday)]), \(two(p.tm_mday)) \(months[Int(p.tm_mon)]) \(1900 + p.tm_year) "
            + "\(two(p.tm_hour)):\(two(p.tm_min)):\(two(p.tm_sec)) GMT"
    }
}

/// Hummingbird's `HTTP1Channel` with the same pipeline and defaults, plus Trove's handlers: the
/// write-stall timeout and, after the connection state handler (so idle timeouts and graceful shutdown
/// count fast requests too), the fast path.
struct TroveHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let idleTimeout: Duration
    let fastPath: TroveServer?

    init(responder: @escaping HTTPChannelHandler.Responder, idleTimeout: Duration, fastPath: TroveServer?) {
        self.responder = responder
        self.idleTimeout = idleTimeout
        self.fastPath = fastPath
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            // Hummingbird's HTTP1Channel defaults.
            limits.maxHeaderFieldSize = 80 * 1024
            limits.maxHeaderListSize = 80 * 1024
            limits.maxHeaderFieldCount = 1000
            let ops = channel.pipeline.syncOperations
            try ops.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try ops.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try ops.addHandler(WriteStallHandler(timeout: .nanoseconds(max(1, idleTimeout.nanoseconds))))
            try ops.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
            if let fastPath { try ops.addHandler(FastPathHandler(server: fastPath)) }
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
