import HTTPTypes
import Testing
import TroveContent
@testable import TroveServe

/// `TroveServer.fileAnswer`, the one decision of status, headers and body for a file (used by the
/// Hummingbird path, the fast path and the raw fast path), against RFC 9110/9111 cases.
@Suite struct FileAnswerTests {
    static let digest = Digest(bytes: Array(repeating: UInt8(7), count: 32))
    static let etag = "\"\(digest.hex)\""
    static let cc = "public, max-age=60"

    static func file(size: Int = 1000, passthrough: Bool = false) -> FileEntry {
        FileEntry(path: "html/a.html", size: size, contentType: "text/html; charset=utf-8", etag: etag, digest: digest,
                  chunks: [], passthrough: passthrough)
    }

    func answer(_ request: FileRequest, _ entry: FileEntry = file(), status: HTTPResponse.Status = .ok) -> FileAnswer {
        TroveServer.fileAnswer(entry, request, status: status, cacheControl: Self.cc)
    }

    @Test func plainGetIsTheWholeFileWithValidators() {
        let a = answer(FileRequest())
        #expect(a.status == .ok)
        #expect(a.body == .bytes(offset: 0, length: 1000))
        #expect(a.sendsBody)
        #expect(a.headers[.eTag] == Self.etag)
        #expect(a.headers[.acceptRanges] == "bytes")
        #expect(a.headers[.contentLength] == "1000")
        #expect(a.headers[.contentType] == "text/html; charset=utf-8")
        #expect(a.headers[.cacheControl] == Self.cc)
        #expect(a.headers[.vary] == nil)
        #expect(a.headers[.contentRange] == nil)
    }

    @Test func headHasTheHeadersOfGetAndNoBody() {
        let get = answer(FileRequest())
        let head = answer(FileRequest(isHead: true))
        #expect(head.headers == get.headers)
        #expect(head.status == .ok)
        #expect(!head.sendsBody)
    }

    /// RFC 9110 §13.1.2: If-None-Match uses weak comparison; `*` matches; a list matches if any does.
    @Test(arguments: [etag, "W/\(etag)", "*", "\"other\", \(etag)", " \"x\" ,W/\(etag)"])
    func ifNoneMatchHitIs304(_ header: String) {
        let a = answer(FileRequest(ifNoneMatch: header))
        #expect(a.status == .notModified)
        #expect(a.body == .none)
        #expect(!a.sendsBody)
    }

    @Test func ifNoneMatchMissIsTheFile() {
        #expect(answer(FileRequest(ifNoneMatch: "\"other\"")).status == .ok)
    }

    /// RFC 9111 §4.3.4 / RFC 9110 §15.4.5: a 304 carries the ETag, Cache-Control and Vary a 200 would
    /// have, and no content headers.
    @Test func notModifiedHeaders() {
        let a = answer(FileRequest(ifNoneMatch: Self.etag), Self.file(passthrough: true))
        #expect(a.headers[.eTag] == Self.etag)
        #expect(a.headers[.cacheControl] == Self.cc)
        #expect(a.headers[.vary] == "Accept-Encoding")
        #expect(a.headers[.contentType] == nil)
        #expect(a.headers[.contentLength] == nil)
        #expect(a.headers[.contentRange] == nil)
    }

    /// RFC 9110 §13.2.2: If-None-Match is evaluated before Range (a matching validator is a 304, not a
    /// 206), and If-Modified-Since is ignored beside it; without a Last-Modified it is never evaluated.
    @Test func conditionalPrecedence() {
        let both = answer(FileRequest(ifNoneMatch: Self.etag, range: "bytes=0-9"))
        #expect(both.status == .notModified)
        let imsWithMiss = answer(FileRequest(ifNoneMatch: "\"other\"", ifModifiedSince: "Sun, 06 Nov 2094 08:49:37 GMT"))
        #expect(imsWithMiss.status == .ok)
        let imsAlone = answer(FileRequest(ifModifiedSince: "Sun, 06 Nov 2094 08:49:37 GMT"))
        #expect(imsAlone.status == .ok)
        #expect(imsAlone.sendsBody)
    }

    /// RFC 9110 §14.4 and §15.3.7: one range → 206 with Content-Range and the range's length.
    @Test func rangeIs206() {
        let a = answer(FileRequest(range: "bytes=100-199"))
        #expect(a.status == .partialContent)
        #expect(a.body == .bytes(offset: 100, length: 100))
        #expect(a.headers[.contentRange] == "bytes 100-199/1000")
        #expect(a.headers[.contentLength] == "100")
        #expect(a.headers[.eTag] == Self.etag)
        let suffix = answer(FileRequest(range: "bytes=-10"))
        #expect(suffix.headers[.contentRange] == "bytes 990-999/1000")
        let open = answer(FileRequest(range: "bytes=990-"))
        #expect(open.body == .bytes(offset: 990, length: 10))
        let clamped = answer(FileRequest(range: "bytes=990-5000"))
        #expect(clamped.headers[.contentRange] == "bytes 990-999/1000")
    }

    /// RFC 9110 §15.5.17: a range past the end is a 416 with `Content-Range: bytes */size`.
    @Test func unsatisfiableRangeIs416() {
        let a = answer(FileRequest(range: "bytes=1000-"))
        #expect(a.status == .rangeNotSatisfiable)
        #expect(a.headers[.contentRange] == "bytes */1000")
        #expect(a.body == .message(TroveServer.rangeNotSatisfiableText))
        #expect(a.headers[.contentLength] == String(TroveServer.rangeNotSatisfiableText.utf8.count))
        #expect(answer(FileRequest(range: "bytes=0-"), Self.file(size: 0)).status == .rangeNotSatisfiable)
    }

    /// RFC 9110 §14.2: a server may ignore Range; ranges it does not honour (other units, several
    /// ranges, bad syntax) get the whole file.
    @Test(arguments: ["items=0-9", "bytes=0-9,20-29", "bytes=9-0", "bytes=a-b", "bytes="])
    func ignoredRangeIsTheWholeFile(_ header: String) {
        let a = answer(FileRequest(range: header))
        #expect(a.status == .ok)
        #expect(a.body == .bytes(offset: 0, length: 1000))
        #expect(a.headers[.contentRange] == nil)
    }

    /// RFC 9110 §14.2: GET is the only method with range handling; HEAD ignores Range.
    @Test func headIgnoresRange() {
        let a = answer(FileRequest(isHead: true, range: "bytes=0-9"))
        #expect(a.status == .ok)
        #expect(a.headers[.contentLength] == "1000")
        #expect(a.headers[.contentRange] == nil)
    }

    /// RFC 9110 §13.1.5: If-Range with the current strong ETag → the range; another tag, a weak tag
    /// (never matches: strong comparison) or a date (no Last-Modified) → the whole file.
    @Test func ifRange() {
        #expect(answer(FileRequest(range: "bytes=0-9", ifRange: Self.etag)).status == .partialContent)
        #expect(answer(FileRequest(range: "bytes=0-9", ifRange: "\"old\"")).status == .ok)
        #expect(answer(FileRequest(range: "bytes=0-9", ifRange: "W/\(Self.etag)")).status == .ok)
        #expect(answer(FileRequest(range: "bytes=0-9", ifRange: "Sun, 06 Nov 1994 08:49:37 GMT")).status == .ok)
        // Without Range, If-Range means nothing.
        #expect(answer(FileRequest(ifRange: "\"old\"")).status == .ok)
    }

    /// zstd passthrough: a client accepting zstd gets the stored frame with its own ETag; Vary on every
    /// answer whose encoding could differ; a range is always of the decoded bytes.
    @Test func zstdPassthrough() {
        let entry = Self.file(passthrough: true)
        let z = answer(FileRequest(acceptEncoding: "gzip, zstd"), entry)
        #expect(z.status == .ok)
        #expect(z.body == .zstdFrame)
        #expect(z.headers[.contentEncoding] == "zstd")
        #expect(z.headers[.eTag] == entry.zstdETag)
        #expect(z.headers[.vary] == "Accept-Encoding")
        #expect(z.headers[.contentLength] == nil) // the frame's length, set by the caller
        let identity = answer(FileRequest(acceptEncoding: "gzip"), entry)
        #expect(identity.body == .bytes(offset: 0, length: 1000))
        #expect(identity.headers[.contentEncoding] == nil)
        #expect(identity.headers[.vary] == "Accept-Encoding")
        #expect(answer(FileRequest(acceptEncoding: "zstd;q=0"), entry).body == .bytes(offset: 0, length: 1000))
        let ranged = answer(FileRequest(acceptEncoding: "zstd", range: "bytes=0-4"), entry)
        #expect(ranged.status == .partialContent)
        #expect(ranged.headers[.contentEncoding] == nil)
        #expect(ranged.headers[.eTag] == Self.etag)
        // Each representation is validated against its own ETag.
        #expect(answer(FileRequest(acceptEncoding: "zstd", ifNoneMatch: entry.zstdETag), entry).status == .notModified)
        #expect(answer(FileRequest(acceptEncoding: "zstd", ifNoneMatch: Self.etag), entry).status == .ok)
        #expect(answer(FileRequest(ifNoneMatch: entry.zstdETag), entry).status == .ok)
        let z304 = answer(FileRequest(acceptEncoding: "zstd", ifNoneMatch: entry.zstdETag), entry)
        #expect(z304.headers[.eTag] == entry.zstdETag)
        #expect(z304.headers[.vary] == "Accept-Encoding")
        // Not passthrough: zstd is never offered.
        #expect(answer(FileRequest(acceptEncoding: "zstd")).body == .bytes(offset: 0, length: 1000))
    }

    /// A site's own 404 page is not conditional: no validators, ranges or zstd.
    @Test func errorPageIsNotConditional() {
        let a = answer(FileRequest(acceptEncoding: "zstd", ifNoneMatch: "*", range: "bytes=0-9"),
                       Self.file(passthrough: true), status: .notFound)
        #expect(a.status == .notFound)
        #expect(a.body == .bytes(offset: 0, length: 1000))
        #expect(a.headers[.eTag] == nil)
        #expect(a.headers[.acceptRanges] == nil)
        #expect(a.headers[.contentRange] == nil)
        #expect(a.headers[.contentEncoding] == nil)
    }

    /// The raw fast path decides with `decide` and uses heads rendered from the same decisions.
    @Test func decideMatchesTheRenderedAnswer() {
        let entry = Self.file(passthrough: true)
        for r in [FileRequest(), FileRequest(isHead: true), FileRequest(acceptEncoding: "zstd"),
                  FileRequest(ifNoneMatch: Self.etag), FileRequest(range: "bytes=5-")] {
            #expect(TroveServer.decide(entry, r) == answer(r, entry).decision)
        }
    }
}
