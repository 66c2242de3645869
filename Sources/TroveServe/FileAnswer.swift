import Foundation
import HTTPTypes

/// The request facts that change the answer for a published file (RFC 9110 §13, §14).
struct FileRequest: Sendable, Equatable {
    var isHead = false
    var acceptEncoding: String? = nil
    var ifNoneMatch: String? = nil
    /// Never evaluated: files carry no `Last-Modified` (their validator is the ETag), so the condition
    /// cannot be evaluated and is ignored (RFC 9110 §13.1.3; it is ignored anyway beside If-None-Match).
    var ifModifiedSince: String? = nil
    var range: String? = nil
    var ifRange: String? = nil
}

/// Which answer a file gets; cheap enough for the raw fast path to decide per request.
enum FileDecision: Equatable, Sendable {
    /// 304: the client's copy (identity, or the zstd frame) is current.
    case notModified(zstd: Bool)
    /// The whole file with the given status: decoded, or its stored zstd frame as is.
    case full(zstd: Bool)
    /// 206 with one range of the decoded bytes.
    case partial(offset: Int, length: Int)
    /// 416.
    case unsatisfiable
}

/// What goes into the body (for HEAD: what would, so that `Content-Length` is the GET's).
enum BodyPlan: Equatable, Sendable {
    case none
    /// The decoded bytes `offset..<offset+length`.
    case bytes(offset: Int, length: Int)
    /// The one chunk's stored zstd frame; its length is only known once it is loaded, so the caller
    /// sets `Content-Length`.
    case zstdFrame
    case message(String)
}

/// The complete answer for a file: status, headers (with `Content-Length`, except for `.zstdFrame`;
/// without `Date` and `Server`, added when written) and the body plan. The one home of this rule: the
/// Hummingbird path (`send`), the fast path (`fileReply`) and the raw fast path (`rawAnswer`) all use it.
struct FileAnswer: Sendable, Equatable {
    var decision: FileDecision
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: BodyPlan
    /// false for HEAD (and for 304, whose plan is `.none`).
    var sendsBody: Bool
}

extension TroveServer {
    static let rangeNotSatisfiableText = "range not satisfiable\n"

    /// The decision for a `200`-status file (RFC 9110 §13.2.2 order): If-None-Match (weak comparison
    /// against the negotiated representation's ETag) → 304; If-Modified-Since cannot be evaluated
    /// (no Last-Modified); then Range, for GET only (§14.2: ignored for HEAD), gated by If-Range (an
    /// entity tag compared strongly, so a weak tag or a date never matches → the whole file).
    /// zstd passthrough only for a whole file whose single chunk is one dictionary-less frame.
    static func decide(_ entry: FileEntry, _ request: FileRequest) -> FileDecision {
        let range = request.isHead ? nil : request.range
        let zstd = entry.passthrough && range == nil && acceptsZstd(request.acceptEncoding)
        if let inm = request.ifNoneMatch, matches(inm, zstd ? entry.zstdETag : entry.etag) {
            return .notModified(zstd: zstd)
        }
        guard let range, ifRangeHolds(request.ifRange, etag: entry.etag) else { return .full(zstd: zstd) }
        switch RangeRequest.parse(range, size: entry.size) {
        case .full: return .full(zstd: false)
        case .unsatisfiable: return .unsatisfiable
        case .partial(let o, let l): return .partial(offset: o, length: l)
        }
    }

    /// If-Range (RFC 9110 §13.1.5): absent, or an entity tag strongly equal to the file's.
    static func ifRangeHolds(_ header: String?, etag: String) -> Bool {
        guard let header else { return true }
        let t = header.trimmingCharacters(in: .whitespaces)
        return !t.hasPrefix("W/") && t == etag
    }

    /// The answer for `entry`. `status` other than 200 (a site's own 404 page) is not conditional:
    /// no validators, no ranges, no zstd.
    static func fileAnswer(_ entry: FileEntry, _ request: FileRequest, status: HTTPResponse.Status = .ok,
                           cacheControl: String) -> FileAnswer {
        let decision = status == .ok ? decide(entry, request) : .full(zstd: false)
        return fileAnswer(entry, decision, isHead: request.isHead, status: status, cacheControl: cacheControl)
    }

    /// Renders a decision: the headers of a 304 are those RFC 9111 §4.3.4 requires of it (ETag,
    /// Cache-Control, Vary), those of a 200/206 the file's, in one fixed order.
    static func fileAnswer(_ entry: FileEntry, _ decision: FileDecision, isHead: Bool, status: HTTPResponse.Status = .ok,
                           cacheControl: String) -> FileAnswer {
        let conditional = status == .ok
        switch decision {
        case .notModified(let zstd):
            var h: HTTPFields = [.eTag: zstd ? entry.zstdETag : entry.etag, .cacheControl: cacheControl]
            if entry.passthrough { h[.vary] = "Accept-Encoding" }
            return FileAnswer(decision: decision, status: .notModified, headers: h, body: .none, sendsBody: false)
        case .unsatisfiable:
            var h: HTTPFields = [.contentRange: "bytes */\(entry.size)", .cacheControl: cacheControl, .eTag: entry.etag]
            h[.contentType] = "text/plain; charset=utf-8"
            h[.contentLength] = String(rangeNotSatisfiableText.utf8.count)
            return FileAnswer(decision: decision, status: .rangeNotSatisfiable, headers: h,
                              body: .message(rangeNotSatisfiableText), sendsBody: !isHead)
        case .full, .partial:
            var h: HTTPFields = [.contentType: entry.contentType, .cacheControl: cacheControl]
            if entry.passthrough { h[.vary] = "Accept-Encoding" }
            let zstd = decision == .full(zstd: true)
            if conditional {
                h[.eTag] = zstd ? entry.zstdETag : entry.etag
                h[.acceptRanges] = "bytes"
            }
            let plan: BodyPlan
            var outStatus = status
            if case .partial(let o, let l) = decision {
                outStatus = .partialContent
                h[.contentRange] = "bytes \(o)-\(o + l - 1)/\(entry.size)"
                plan = .bytes(offset: o, length: l)
            } else if zstd {
                h[.contentEncoding] = "zstd"
                plan = .zstdFrame
            } else {
                plan = .bytes(offset: 0, length: entry.size)
            }
            if case .bytes(_, let l) = plan { h[.contentLength] = String(l) }
            return FileAnswer(decision: decision, status: outStatus, headers: h, body: plan, sendsBody: !isHead)
        }
    }
}
