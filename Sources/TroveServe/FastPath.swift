import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import TroveContent

// The fast path: GET/HEAD requests for public files whose answer is entirely in memory (fresh ref
// answer, cached path lookup, cached whole-file bytes or verified zstd frame) are answered right in the
// NIO pipeline, synchronously, without entering Hummingbird's async responder; so are private files
// that a token or a cached decision of the host application grants (`mayReadFromMemory`). Everything
// else (misses, stale refs, other private requests, ranges, redirects, 404s, /metrics, requests with
// bodies, anything unusual) goes to Hummingbird unchanged. The answer is the one the slow path would give: same status,
// headers and body (see `send`), same metrics and access log line.

/// A GET or HEAD the fast path may answer: no body, no `Range`, keep-alive; the two headers that
/// change the answer.
struct FastRequest {
    var isHead: Bool
    var target: String
    var acceptEncoding: String?
    var ifNoneMatch: String?
    /// Where a private project's credentials are read from, if the target turns out to be one.
    var credentials: FastCredentials = .none
}

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
        return fastReply(FastRequest(isHead: isHead, target: target, acceptEncoding: fields[.acceptEncoding],
                                     ifNoneMatch: fields[.ifNoneMatch], credentials: .fields(fields)))
    }

    /// What a fast-path target names, when everything needed to answer it is in memory.
    enum FastTarget {
        case healthz
        /// `grant`: what allowed the read (`count` it once the request is answered).
        case file(project: String, version: String, manifest: Digest, entry: FileEntry, grant: FastGrant)
    }

    /// Resolves `target` from memory alone: a fresh ref answer, a cached site root and a cached path
    /// lookup of a file of a public project, or of a private one that `mayReadFromMemory` grants (or
    /// `/healthz` for GET); nil sends the request the slow way.
    func fastTarget(_ target: String, isHead: Bool, credentials: FastCredentials = .none) -> FastTarget? {
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
            return first == "healthz" && !isHead ? .healthz : nil
        }
        // Private projects go the slow way unless a token or a cached decision grants the read (signatures,
        // subrequests and every denial are the slow path's).
        guard let grant = mayReadFromMemory(project: project, credentials),
              case .version(let digest, _)? = refs.freshVersion(project, version, now: .now) else { return nil }
        let root: String
        if let download { root = download } else {
            guard let known = siteRoots.get(digest) else { return nil }
            root = known ? "html" : ""
        }
        let key = LookupKey(manifest: digest, path: rest.joined(separator: "/"), root: root, slash: path.trailingSlash,
                            index: download == nil)
        guard case .file(let entry)? = lookups.get(key) else { return nil }
        return .file(project: project, version: version, manifest: digest, entry: entry, grant: grant)
    }

    /// The answer for a GET or HEAD that already passed the request-level checks (no body, no Range,
    /// keep-alive), if it can be given from memory alone.
    func fastReply(_ request: FastRequest) -> FastReply? {
        switch fastTarget(request.target, isHead: request.isHead, credentials: request.credentials) {
        case nil: return nil
        case .healthz: return TroveServer.fastHealthz
        case .file(let project, _, _, let entry, let grant):
            let reply = fileReply(entry, request, cacheControl: cacheControl(for: project))
            if reply != nil { count(grant) }
            return reply
        }
    }

    /// The answer `send` gives (`fileAnswer`) for a file the request may read and a request without Range, when its
    /// body is in memory; nil otherwise.
    func fileReply(_ entry: FileEntry, _ request: FastRequest, cacheControl: String) -> FastReply? {
        let answer = TroveServer.fileAnswer(entry, FileRequest(isHead: request.isHead, acceptEncoding: request.acceptEncoding,
                                                               ifNoneMatch: request.ifNoneMatch),
                                            cacheControl: cacheControl)
        var headers = answer.headers
        var note = Note()
        var body: ByteBuffer?
        switch answer.body {
        case .none:
            break
        case .zstdFrame:
            guard let b = cache.hit(ChunkKey(digest: entry.chunks[0].digest, encoded: true)) else { return nil }
            headers[.contentLength] = String(b.readableBytes)
            body = b
            note.cache = "hit"
            note.encoding = "zstd"
        case .bytes(let offset, let length):
            guard answer.sendsBody, length > 0 else { break }
            // (A cached body of another length than the manifest says goes the slow way, which fails it.)
            guard offset == 0, length == entry.size, let key = entry.wholeKey, let b = cache.hit(key),
                  b.readableBytes == entry.size else { return nil }
            body = b
            note.cache = "hit"
        case .message:
            return nil // (no Range here, so never)
        }
        return FastReply(status: answer.status, headers: headers, body: answer.sendsBody ? body : nil, note: note)
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
    /// Holds the count of requests passed to Hummingbird whose response has not been written completely.
    let activity: ConnectionActivity
    private var mode = Mode.idle
    private var date = HTTPDate()

    init(server: TroveServer, activity: ConnectionActivity) {
        self.server = server
        self.activity = activity
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            let start = ContinuousClock.now
            // Not while the client is not reading (Hummingbird's writer applies back-pressure; this does not).
            if activity.inFlight == 0, context.channel.isWritable, let reply = server.fastReply(request) {
                mode = .fast(reply, request, start)
                return
            }
            activity.inFlight += 1
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
        if case .end = unwrapOutboundIn(data), activity.inFlight > 0 { activity.inFlight -= 1 }
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
/// write-stall timeout, a connection state handler that also counts raw fast-path answers, and, when the
/// fast path is on, `RawFastPathHandler` in front of the HTTP decoder and `FastPathHandler` after the
/// connection state handler (so idle timeouts and graceful shutdown see fast requests too).
struct TroveHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let idleTimeout: Duration
    let fastPath: TroveServer?
    let metrics: ServeMetrics

    init(responder: @escaping HTTPChannelHandler.Responder, idleTimeout: Duration, fastPath: TroveServer?, metrics: ServeMetrics) {
        self.responder = responder
        self.idleTimeout = idleTimeout
        self.fastPath = fastPath
        self.metrics = metrics
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            // Hummingbird's HTTP1Channel defaults.
            limits.maxHeaderFieldSize = 80 * 1024
            limits.maxHeaderListSize = 80 * 1024
            limits.maxHeaderFieldCount = 1000
            let ops = channel.pipeline.syncOperations
            let activity = ConnectionActivity()
            try ops.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            if let fastPath { try ops.addHandler(RawFastPathHandler(server: fastPath, activity: activity), position: .first) }
            try ops.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try ops.addHandler(WriteStallHandler(timeout: .nanoseconds(max(1, idleTimeout.nanoseconds)), onStall: { [metrics] in metrics.writeStalls.increment() }))
            try ops.addHandler(ConnectionStateHandler(idleTimeout: idleTimeout, activity: activity))
            if let fastPath { try ops.addHandler(FastPathHandler(server: fastPath, activity: activity)) }
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}
