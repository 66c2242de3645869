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
    /// A large file's body: its verified cache file, sent with sendfile (the writer closes the handle).
    var file: FileRegion? = nil
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
           let grant = route.isPrivate ? mayReadFromMemory(project: route.project, request.credentials) : FastGrant.open {
            // The decision is `fileAnswer`'s; the identity 200 and 304 heads it renders are cached in the route.
            var answer: RawAnswer? = nil
            switch TroveServer.decide(route.entry, FileRequest(isHead: request.isHead, acceptEncoding: request.acceptEncoding,
                                                               ifNoneMatch: request.ifNoneMatch)) {
            case .notModified(zstd: false):
                answer = RawAnswer(head: route.notModified, body: nil, status: 304, note: Note())
            case .full(zstd: false):
                if request.isHead || route.entry.size == 0 {
                    answer = RawAnswer(head: route.ok, body: nil, status: 200, note: Note())
                } else if let region = cachedFile(route.entry) {
                    answer = RawAnswer(head: route.ok, body: nil, status: 200, note: TroveServer.fileNote, file: region)
                } else {
                    guard let key = route.entry.wholeKey, let body = cache.hit(key), body.readableBytes == route.entry.size else { return nil }
                    answer = RawAnswer(head: route.ok, body: body, status: 200, note: Note(cache: "hit", encoding: "identity"))
                }
            default:
                break // zstd: answered below, from the cached frame
            }
            if let answer {
                count(grant)
                return answer
            }
        }
        switch fastTarget(request.target, isHead: request.isHead, credentials: request.credentials) {
        case nil:
            return nil
        case .healthz:
            return TroveServer.rawHealthz
        case .file(let project, let version, let manifest, let entry, let grant):
            let cc = cacheControl(for: project)
            let okAnswer = TroveServer.fileAnswer(entry, .full(zstd: false), isHead: false, cacheControl: cc)
            let ok = FastReply(status: okAnswer.status, headers: okAnswer.headers, body: nil, note: Note()).encodedHead()
            let answer: RawAnswer
            if !request.isHead, entry.size > 0,
               TroveServer.decide(entry, FileRequest(acceptEncoding: request.acceptEncoding, ifNoneMatch: request.ifNoneMatch)) == .full(zstd: false),
               let region = cachedFile(entry) {
                answer = RawAnswer(head: ok, body: nil, status: 200, note: TroveServer.fileNote, file: region)
            } else {
                guard let reply = fileReply(entry, request, cacheControl: cc) else { return nil }
                answer = RawAnswer(head: reply.encodedHead(), body: reply.body, status: reply.status.code, note: reply.note)
            }
            count(grant)
            let notModifiedAnswer = TroveServer.fileAnswer(entry, .notModified(zstd: false), isHead: false, cacheControl: cc)
            let notModified = FastReply(status: notModifiedAnswer.status, headers: notModifiedAnswer.headers, body: nil, note: Note())
            routes.put(request.target, FastRoute(project: project, version: version, manifest: manifest, entry: entry,
                                                 isPrivate: configuration.access.isPrivate(project),
                                                 ok: ok, notModified: notModified.encodedHead()))
            return answer
        }
    }

    static let fileNote = Note(cache: "file", encoding: "identity")

    /// The whole file from the file cache, when it covers `entry` and holds it verified and unchanged.
    func cachedFile(_ entry: FileEntry) -> FileRegion? {
        guard let files = fileCache, files.covers(entry), let digest = entry.digest, let handle = files.open(digest) else { return nil }
        return FileRegion(fileHandle: handle, readerIndex: 0, endIndex: entry.size)
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
