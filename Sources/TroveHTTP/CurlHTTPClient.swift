import CCurl
import Foundation
import Synchronization

/// One HTTP request for `CurlHTTPClient`: the body is sent as is, with the headers given (no others
/// but `Host`, `Content-Length` and `Accept`, which libcurl adds; `Expect: 100-continue` is disabled).
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(method: String, url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }
}

/// A complete HTTP response: status, headers in arrival order, whole body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header of that name (case-insensitive), or nil.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

/// A request that got no HTTP response: connection refused, DNS failure, timeout, reset, stall.
/// The description names the server's origin (scheme, host, port) and the cause, never headers.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case cannotConnect, cannotResolve, timedOut, connectionLost, tls, responseTooLarge, shutdown, other
    }

    public var kind: Kind
    /// `scheme://host:port` of the request.
    public var origin: String
    /// What went wrong, in lowercase words ("connection refused", "no data for 30 s").
    public var reason: String
    /// libcurl's CURLcode, for diagnostics.
    public var curlCode: Int

    public init(kind: Kind, origin: String, reason: String, curlCode: Int = 0) {
        self.kind = kind
        self.origin = origin
        self.reason = reason
        self.curlCode = curlCode
    }

    /// Whether trying again later may succeed (every network fault; not TLS failures or misuse).
    public var isTransient: Bool {
        switch kind {
        case .cannotConnect, .cannotResolve, .timedOut, .connectionLost, .other: true
        case .tls, .responseTooLarge, .shutdown: false
        }
    }

    public var description: String {
        switch kind {
        case .cannotConnect: "cannot connect to \(origin): \(reason)"
        case .cannotResolve: "cannot resolve \(origin): \(reason)"
        case .timedOut: "request to \(origin) timed out: \(reason)"
        case .connectionLost: "connection to \(origin) lost: \(reason)"
        case .tls: "TLS failure talking to \(origin): \(reason)"
        case .responseTooLarge: "response from \(origin) too large: \(reason)"
        case .shutdown: "HTTP client shut down before the request to \(origin) finished"
        case .other: "request to \(origin) failed: \(reason)"
        }
    }
}

/// A general async HTTP/1.1 client on libcurl's multi interface.
///
/// One dedicated thread drives every transfer (`curl_multi_poll`/`curl_multi_perform`), so no Swift
/// concurrency thread ever blocks on the network; each request resumes its caller through a
/// continuation. Connections are pooled and reused across requests; at most `maxConnections`
/// transfers run at once and further requests wait in FIFO order. Cancelling the calling task aborts
/// its transfer, whether it is running or still waiting for a connection. The one HTTP engine of every
/// cloud backend (`S3BlobStore`, `AzureBlobStore`), and usable by any test or feature that needs plain HTTP.
public final class CurlHTTPClient: Sendable {
    /// Tunables; the defaults suit a remote object store.
    public struct Configuration: Sendable {
        /// Transfers in flight at once (and the connection pool's size).
        public var maxConnections: Int = 16
        /// Give up connecting after this long.
        public var connectTimeout: Duration = .seconds(10)
        /// A transfer that moves fewer than `lowSpeedLimit` bytes/s for `lowSpeedTime` is a stall.
        public var lowSpeedLimit: Int = 1
        public var lowSpeedTime: Duration = .seconds(30)
        /// Cap on a whole request, or nil for none (stall detection usually suffices).
        public var requestTimeout: Duration? = nil
        /// Bodies larger than this abort the transfer, bounding memory.
        public var maxResponseBytes: Int = 1 << 31
        /// Verify TLS certificates (turn off only for test servers).
        public var verifyTLS: Bool = true

        public init() {}
    }

    private let engine: CurlEngine

    /// Loads libcurl on first use (see `CurlLibrary`); throws when it cannot be loaded.
    public init(configuration: Configuration = Configuration()) throws {
        try CurlLibrary.load()
        engine = CurlEngine(configuration: configuration)
        engine.start()
    }

    deinit { engine.shutdown() }

    /// Sends a request and returns the complete response, whatever its status. Throws
    /// `HTTPClientError` when no response arrived, or `CancellationError` when the task was cancelled
    /// (the transfer is then aborted at once).
    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Task.checkCancellation()
        let transfer = CurlTransfer(request: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<HTTPResponse, any Error>) in
                engine.submit(transfer, continuation: c)
            }
        } onCancel: {
            engine.cancel(transfer)
        }
    }

    /// Convenience for `send(HTTPRequest(...))`.
    public func send(_ method: String, _ url: String, headers: [(name: String, value: String)] = [], body: [UInt8] = []) async throws -> HTTPResponse {
        try await send(HTTPRequest(method: method, url: url, headers: headers, body: body))
    }

    /// Stops the I/O thread; requests still running fail with `.shutdown`. Also done on deinit.
    public func shutdown() { engine.shutdown() }
}

/// libcurl is loaded at run time, the first time a cloud store (`s3://`, `azure://`) is opened, so commands on local stores
/// start without it (and its ~25 dependencies) and run where it is not installed.
public enum CurlLibrary {
    /// Loads and initialises libcurl once; throws why when it cannot be.
    public static func load() throws(CurlUnavailableError) {
        if let why = trove_curl_load() { throw CurlUnavailableError(description: String(cString: why)) }
    }
}

/// libcurl could not be loaded (not installed, or too old).
public struct CurlUnavailableError: Error, CustomStringConvertible {
    public let description: String
}

/// The state of one request. Touched by the submitting task until `submit`, then only by the engine's
/// thread (callbacks run there too); `continuation` and `state` hand over under the engine's lock.
final class CurlTransfer: @unchecked Sendable {
    let request: HTTPRequest
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
    var uploadOffset = 0
    var status = 0
    var responseHeaders: [(name: String, value: String)] = []
    var body: [UInt8] = []
    var maxBody = Int.max
    var tooLarge = false
    /// Set under the engine's lock by `cancel`, which may run before `submit` (a task cancelled as it
    /// starts the request): a transfer so marked is never started.
    var cancelRequested = false

    init(request: HTTPRequest) {
        self.request = request
        errorBuffer.initialize(repeating: 0, count: 256)
    }

    deinit { errorBuffer.deallocate() }

    var origin: String {
        guard let c = URLComponents(string: request.url), let scheme = c.scheme, let host = c.host else {
            return String(request.url.prefix { $0 != "?" })
        }
        let h = host.contains(":") ? "[\(host)]" : host
        return c.port.map { "\(scheme)://\(h):\($0)" } ?? "\(scheme)://\(h)"
    }

    func finish(_ result: Result<HTTPResponse, any Error>) {
        guard let c = continuation else { return }
        continuation = nil
        c.resume(with: result)
    }
}

/// The multi-handle loop. What callers hand over lives in `shared`, behind its mutex; everything
/// else belongs to the I/O thread.
final class CurlEngine: @unchecked Sendable {
    let configuration: CurlHTTPClient.Configuration

    /// The hand-over between callers and the I/O thread.
    private struct Shared {
        var pending: [CurlTransfer] = []
        var cancelled: [CurlTransfer] = []
        var stopping = false
        /// Set once the multi handle is freed, so no late wakeup touches it.
        var closed = false
    }

    private let shared = Mutex(Shared())
    private let multi: UnsafeMutableRawPointer

    // I/O thread only.
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]
    private var idleHandles: [UnsafeMutableRawPointer] = []

    init(configuration: CurlHTTPClient.Configuration) {
        self.configuration = configuration
        multi = trove_curl_multi_init()
        let n = max(1, configuration.maxConnections)
        _ = trove_curl_multi_setopt_long(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, n)
        _ = trove_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, n)
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "trove.curl"
        thread.start()
    }

    func submit(_ t: CurlTransfer, continuation: CheckedContinuation<HTTPResponse, any Error>) {
        let rejection: (any Error)? = shared.withLock { s in
            if t.cancelRequested { return CancellationError() }
            if s.stopping { return HTTPClientError(kind: .shutdown, origin: t.origin, reason: "shut down") }
            t.continuation = continuation
            s.pending.append(t)
            return nil
        }
        if let rejection {
            continuation.resume(throwing: rejection)
            return
        }
        wake()
    }

    func cancel(_ t: CurlTransfer) {
        shared.withLock { s in
            t.cancelRequested = true
            if !s.closed { s.cancelled.append(t) }
        }
        wake()
    }

    func shutdown() {
        shared.withLock { $0.stopping = true }
        wake()
    }

    /// Interrupts `curl_multi_poll` (thread-safe in libcurl), unless the handle is already gone.
    private func wake() {
        shared.withLock { s in if !s.closed { _ = trove_curl_multi_wakeup(multi) } }
    }

    private func run() {
        var running: Int32 = 0
        let cap = max(1, configuration.maxConnections)
        while true {
            // Cancellations first, in the same critical section that takes new transfers: a transfer
            // cancelled while still queued leaves the queue here and is never started.
            let room = max(0, cap - active.count)
            let (starts, cancels, dequeued, stop): ([CurlTransfer], [CurlTransfer], [CurlTransfer], Bool) = shared.withLock { s in
                var dequeued: [CurlTransfer] = []
                var running: [CurlTransfer] = []
                for t in s.cancelled {
                    if let i = s.pending.firstIndex(where: { $0 === t }) {
                        s.pending.remove(at: i)
                        dequeued.append(t)
                    } else {
                        running.append(t)
                    }
                }
                s.cancelled.removeAll()
                let take = s.stopping ? [] : Array(s.pending.prefix(room))
                s.pending.removeFirst(take.count)
                return (take, running, dequeued, s.stopping)
            }
            for t in dequeued { t.finish(.failure(CancellationError())) }
            for t in cancels { abort(t, CancellationError()) }
            if stop { break }
            for t in starts { begin(t) }
            trove_curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let msg = trove_curl_multi_info_read(multi, &left) {
                var code = CURLE_OK
                if let easy = trove_curl_msg_done(msg, &code) { complete(easy, code) }
            }
            trove_curl_multi_poll(multi, 1000)
        }
        // Shutting down: fail whatever is left, then free everything.
        let rest: [CurlTransfer] = shared.withLock { s in defer { s.pending.removeAll() }; return s.pending }
        for t in rest { t.finish(.failure(HTTPClientError(kind: .shutdown, origin: t.origin, reason: "shut down"))) }
        for t in Array(active.values) { abort(t, HTTPClientError(kind: .shutdown, origin: t.origin, reason: "shut down")) }
        for h in idleHandles { trove_curl_easy_cleanup(h) }
        idleHandles.removeAll()
        shared.withLock { s in
            s.closed = true
            trove_curl_multi_cleanup(multi)
        }
    }

    /// Stops a running transfer, failing its caller (one that already finished is left alone).
    private func abort(_ t: CurlTransfer, _ error: any Error) {
        guard let easy = t.easy, active[easy] != nil else { return }
        trove_curl_multi_remove_handle(multi, easy)
        recycle(t)
        t.finish(.failure(error))
    }

    private func begin(_ t: CurlTransfer) {
        let easy = idleHandles.popLast() ?? trove_curl_easy_init()!
        t.easy = easy
        t.maxBody = configuration.maxResponseBytes
        let me = Unmanaged.passUnretained(t).toOpaque()
        let r = t.request
        _ = trove_curl_setopt_str(easy, CURLOPT_URL, r.url)
        _ = trove_curl_setopt_long(easy, CURLOPT_NOSIGNAL, 1)
        _ = trove_curl_setopt_long(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        _ = trove_curl_setopt_long(easy, CURLOPT_TCP_KEEPALIVE, 1)
        _ = trove_curl_setopt_long(easy, CURLOPT_CONNECTTIMEOUT_MS, Self.ms(configuration.connectTimeout))
        _ = trove_curl_setopt_long(easy, CURLOPT_LOW_SPEED_LIMIT, configuration.lowSpeedLimit)
        _ = trove_curl_setopt_long(easy, CURLOPT_LOW_SPEED_TIME, max(1, Self.ms(configuration.lowSpeedTime) / 1000))
        if let total = configuration.requestTimeout {
            _ = trove_curl_setopt_long(easy, CURLOPT_TIMEOUT_MS, Self.ms(total))
        }
        if !configuration.verifyTLS {
            _ = trove_curl_setopt_long(easy, CURLOPT_SSL_VERIFYPEER, 0)
            _ = trove_curl_setopt_long(easy, CURLOPT_SSL_VERIFYHOST, 0)
        }
        _ = trove_curl_setopt_ptr(easy, CURLOPT_PRIVATE, me)
        _ = trove_curl_setopt_ptr(easy, CURLOPT_ERRORBUFFER, t.errorBuffer)
        _ = trove_curl_setopt_datacb(easy, CURLOPT_WRITEFUNCTION, curlWrite)
        _ = trove_curl_setopt_ptr(easy, CURLOPT_WRITEDATA, me)
        _ = trove_curl_setopt_datacb(easy, CURLOPT_HEADERFUNCTION, curlHeader)
        _ = trove_curl_setopt_ptr(easy, CURLOPT_HEADERDATA, me)

        let method = r.method.uppercased()
        switch method {
        case "GET" where r.body.isEmpty:
            _ = trove_curl_setopt_long(easy, CURLOPT_HTTPGET, 1)
        case "HEAD":
            _ = trove_curl_setopt_long(easy, CURLOPT_NOBODY, 1)
        default:
            if r.body.isEmpty && method != "PUT" && method != "POST" {
                _ = trove_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method)
            } else {
                // Upload from memory through the read callback; the seek callback lets libcurl
                // rewind when it retries on a reused connection that turned out dead.
                _ = trove_curl_setopt_long(easy, CURLOPT_UPLOAD, 1)
                _ = trove_curl_setopt_off(easy, CURLOPT_INFILESIZE_LARGE, curl_off_t(r.body.count))
                _ = trove_curl_setopt_datacb(easy, CURLOPT_READFUNCTION, curlRead)
                _ = trove_curl_setopt_ptr(easy, CURLOPT_READDATA, me)
                _ = trove_curl_setopt_seekcb(easy, CURLOPT_SEEKFUNCTION, curlSeek)
                _ = trove_curl_setopt_ptr(easy, CURLOPT_SEEKDATA, me)
                if method != "PUT" { _ = trove_curl_setopt_str(easy, CURLOPT_CUSTOMREQUEST, method) }
            }
        }
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in r.headers {
            list = trove_curl_slist_append(list, value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        list = trove_curl_slist_append(list, "Expect:")
        t.headerList = list
        _ = trove_curl_setopt_ptr(easy, CURLOPT_HTTPHEADER, UnsafeMutableRawPointer(list))

        active[easy] = t
        trove_curl_multi_add_handle(multi, easy)
    }

    private func complete(_ easy: UnsafeMutableRawPointer, _ code: CURLcode) {
        guard let t = active[easy] else { return }
        trove_curl_multi_remove_handle(multi, easy)
        if code == CURLE_OK {
            var status = 0
            _ = trove_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
            let response = HTTPResponse(status: status, headers: t.responseHeaders, body: t.body)
            recycle(t)
            t.finish(.success(response))
        } else {
            var osErrno = 0
            _ = trove_curl_getinfo_long(easy, CURLINFO_OS_ERRNO, &osErrno)
            let error = Self.error(code, osErrno: osErrno, detail: String(cString: t.errorBuffer), transfer: t)
            recycle(t)
            t.finish(.failure(error))
        }
    }

    private func recycle(_ t: CurlTransfer) {
        guard let easy = t.easy else { return }
        active[easy] = nil
        t.easy = nil
        trove_curl_slist_free_all(t.headerList)
        t.headerList = nil
        trove_curl_easy_reset(easy)
        if idleHandles.count < max(1, configuration.maxConnections) { idleHandles.append(easy) } else { trove_curl_easy_cleanup(easy) }
    }

    static func ms(_ d: Duration) -> Int {
        Int(d.components.seconds) * 1000 + Int(d.components.attoseconds / 1_000_000_000_000_000)
    }

    static func error(_ code: CURLcode, osErrno: Int, detail: String, transfer t: CurlTransfer) -> HTTPClientError {
        let sys = osErrno != 0 ? String(cString: strerror(Int32(osErrno))).lowercased() : ""
        let curlText = String(cString: trove_curl_easy_strerror(code)).lowercased()
        let reason = !sys.isEmpty ? sys : (!detail.isEmpty ? detail : curlText)
        let kind: HTTPClientError.Kind
        switch code {
        case CURLE_COULDNT_CONNECT: kind = .cannotConnect
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .cannotResolve
        case CURLE_OPERATION_TIMEDOUT: kind = .timedOut
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            kind = .connectionLost
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CACERT_BADFILE:
            kind = .tls
        case CURLE_WRITE_ERROR where t.tooLarge: kind = .responseTooLarge
        default: kind = .other
        }
        var why = reason
        if kind == .timedOut && !detail.isEmpty { why = detail.lowercased() }
        if kind == .connectionLost && sys.isEmpty { why = detail.isEmpty ? curlText : detail.lowercased() }
        if kind == .responseTooLarge { why = "more than \(t.maxBody) bytes" }
        return HTTPClientError(kind: kind, origin: t.origin, reason: why, curlCode: Int(code.rawValue))
    }
}

private func transfer(_ p: UnsafeMutableRawPointer?) -> CurlTransfer {
    Unmanaged<CurlTransfer>.fromOpaque(p!).takeUnretainedValue()
}

private let curlWrite: trove_curl_data_cb = { ptr, size, count, user in
    let t = transfer(user)
    let n = size * count
    if t.body.count + n > t.maxBody { t.tooLarge = true; return 0 }
    if let ptr { t.body.append(contentsOf: UnsafeRawBufferPointer(start: ptr, count: n)) }
    return n
}

private let curlHeader: trove_curl_data_cb = { ptr, size, count, user in
    let t = transfer(user)
    let n = size * count
    guard let ptr else { return n }
    let line = String(decoding: UnsafeRawBufferPointer(start: ptr, count: n), as: UTF8.self)
        .trimmingCharacters(in: .whitespacesAndNewlines)
    if line.hasPrefix("HTTP/") {
        // A new status line (after 100 Continue or a retried connection): start over.
        t.responseHeaders.removeAll()
        t.body.removeAll()
    } else if let colon = line.firstIndex(of: ":") {
        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        t.responseHeaders.append((name, value))
        if name.caseInsensitiveCompare("Content-Length") == .orderedSame, let len = Int(value), len <= t.maxBody {
            t.body.reserveCapacity(len)
        }
    }
    return n
}

private let curlRead: trove_curl_data_cb = { ptr, size, count, user in
    let t = transfer(user)
    let room = size * count
    let left = t.request.body.count - t.uploadOffset
    let n = min(room, left)
    guard n > 0, let ptr else { return 0 }
    t.request.body.withUnsafeBytes { src in
        UnsafeMutableRawPointer(ptr).copyMemory(from: src.baseAddress! + t.uploadOffset, byteCount: n)
    }
    t.uploadOffset += n
    return n
}

private let curlSeek: trove_curl_seek_cb = { user, offset, origin in
    let t = transfer(user)
    guard origin == SEEK_SET, offset >= 0, Int(offset) <= t.request.body.count else { return 1 } // CURL_SEEKFUNC_FAIL
    t.uploadOffset = Int(offset)
    return 0 // CURL_SEEKFUNC_OK
}
