import HTTPTypes
import NIOCore
import TroveContent

/// A fast-path answer prepared once per request target: the file it names and its `200` and `304`
/// header blocks, already encoded. Valid while the version's ref still names `manifest`; a request then
/// costs one map lookup, a ref freshness check and a cache hit for the body (`TroveServer.rawAnswer`).
struct FastRoute: Sendable {
    var project: String
    var version: String
    var manifest: Digest
    var entry: FileEntry
    /// A private project's: each request must still be granted (`TroveServer.mayReadFromMemory`).
    var isPrivate: Bool
    /// Status line and headers of the identity `200` (GET and HEAD alike), without `Date`, `Server`
    /// and the blank line.
    var ok: ByteBuffer
    var notModified: ByteBuffer
}

/// What `RawFastPathHandler` writes: an encoded head (without `Date`, `Server` and the blank line) and
/// the body, if any.
struct RawAnswer {
    var head: ByteBuffer
    var body: ByteBuffer?
    var status: Int
    var note: TroveServer.Note
}

extension TroveServer {
    static let rawHealthz: RawAnswer = {
        let r = fastHealthz
        return RawAnswer(head: r.encodedHead(), body: r.body, status: r.status.code, note: r.note)
    }()

    /// The fast path's answer to `request`, with the header block taken from `routes` when the target
    /// was answered before (the same bytes `fastReply` would produce, without building them again).
    func rawAnswer(_ request: FastRequest) -> RawAnswer? {
        if request.target == "/healthz" { return request.isHead ? nil : TroveServer.rawHealthz }
        if let route = routes.get(request.target),
           case .version(let digest, _)? = refs.freshVersion(route.project, route.version, now: .now),
           digest == route.manifest,
           let grant = route.isPrivate ? mayReadFromMemory(project: route.project, request.credentials) : FastGrant.open,
           !(route.entry.passthrough && TroveServer.acceptsZstd(request.acceptEncoding)) {
            let answer: RawAnswer
            if let inm = request.ifNoneMatch, TroveServer.matches(inm, route.entry.etag) {
                answer = RawAnswer(head: route.notModified, body: nil, status: 304, note: Note())
            } else if request.isHead || route.entry.size == 0 {
                answer = RawAnswer(head: route.ok, body: nil, status: 200, note: Note())
            } else {
                guard let key = route.entry.wholeKey, let body = cache.hit(key), body.readableBytes == route.entry.size else { return nil }
                answer = RawAnswer(head: route.ok, body: body, status: 200, note: Note(cache: "hit", encoding: "identity"))
            }
            count(grant)
            return answer
        }
        switch fastTarget(request.target, isHead: request.isHead, credentials: request.credentials) {
        case nil:
            return nil
        case .healthz:
            return TroveServer.rawHealthz
        case .file(let project, let version, let manifest, let entry, let grant):
            let cacheControl = cacheControl(for: project)
            guard let reply = fileReply(entry, request, cacheControl: cacheControl) else { return nil }
            count(grant)
            let ok = FastReply(status: .ok, headers: okFields(entry, etag: entry.etag, zstd: false, length: entry.size, cacheControl: cacheControl),
                               body: nil, note: Note())
            let notModified = FastReply(status: .notModified, headers: notModifiedFields(entry, etag: entry.etag, cacheControl: cacheControl),
                                        body: nil, note: Note())
            routes.put(request.target, FastRoute(project: project, version: version, manifest: manifest, entry: entry,
                                                 isPrivate: configuration.access.isPrivate(project),
                                                 ok: ok.encodedHead(), notModified: notModified.encodedHead()))
            return RawAnswer(head: reply.encodedHead(), body: reply.body, status: reply.status.code, note: reply.note)
        }
    }
}

extension FastReply {
    /// The status line and header fields as SwiftNIO's HTTP/1.1 encoder writes them for the same answer
    /// (`FastPathHandler.send`), up to where `Date` and `Server` follow. Like the encoder, it drops
    /// framing headers from answers that cannot have a body (304).
    func encodedHead() -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(384)
        let framed = status.code != 304 && status.code != 204 && status.code >= 200
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeString(String(status.code))
        buffer.writeStaticString(" ")
        buffer.writeString(status.reasonPhrase)
        buffer.writeStaticString("\r\n")
        for field in headers {
            if !framed, field.name == .contentLength || field.name == .transferEncoding { continue }
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        return buffer
    }
}
