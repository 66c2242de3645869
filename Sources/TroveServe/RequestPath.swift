/// A request target split into decoded, validated path segments.
///
/// Parsing works on the raw (percent-encoded) target, so an encoded slash (`%2F`) can never turn into
/// a separator. Every segment is decoded once and then checked: no `/`, NUL or other control bytes,
/// valid UTF-8, no `..` (rejected outright, whether written `..` or `%2e%2e`: browsers normalise dot
/// segments before sending, so only crafted requests carry them). `.` and empty segments (`a//b`) are
/// dropped. What comes out can only name a path below the served root; the lookup is then a key
/// lookup in the manifest, never a file-system path.
public struct RequestPath: Sendable, Equatable {
    public var segments: [String]
    /// The raw path ended with `/` (directories are only served in their slash form).
    public var trailingSlash: Bool
    /// The raw query string (after `?`), if any.
    public var query: Substring?

    public init(segments: [String], trailingSlash: Bool, query: Substring? = nil) {
        self.segments = segments
        self.trailingSlash = trailingSlash
        self.query = query
    }

    public static let maxTargetBytes = 4096
    public static let maxSegmentBytes = 255
    public static let maxSegments = 64

    public enum Rejection: Error, Equatable, Sendable {
        /// Malformed percent-encoding, not origin-form: 400.
        case badRequest
        /// A path no published file can have (dot-dot, encoded slash, control bytes, bad UTF-8): 404.
        case notFound
        /// Over `maxTargetBytes`: 414.
        case tooLong
    }

    /// Parses an origin-form request target (`/a/b%20c/?x=1`).
    public static func parse(_ target: String) -> Result<RequestPath, Rejection> {
        var utf8 = target.utf8[...]
        guard utf8.count <= maxTargetBytes else { return .failure(.tooLong) }
        guard utf8.first == UInt8(ascii: "/") else { return .failure(.badRequest) }
        var query: Substring? = nil
        if let q = utf8.firstIndex(of: UInt8(ascii: "?")) {
            query = Substring(target[target.utf8.index(after: q)...])
            utf8 = utf8[..<q]
        }
        if utf8.contains(UInt8(ascii: "#")) { return .failure(.badRequest) }
        let trailingSlash = utf8.last == UInt8(ascii: "/")
        var segments: [String] = []
        var bad: Rejection? = nil
        for raw in utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            guard raw.count <= maxSegmentBytes * 3 else { return .failure(.notFound) }
            switch decode(raw) {
            case .failure(let r):
                // A malformed escape is a bad request; keep scanning for nothing else.
                return .failure(r)
            case .success(let seg):
                if seg == "." { continue }
                if seg == ".." { bad = .notFound; continue }
                segments.append(seg)
            }
            if segments.count > maxSegments { return .failure(.notFound) }
        }
        if let bad { return .failure(bad) }
        return .success(RequestPath(segments: segments, trailingSlash: trailingSlash, query: query))
    }

    /// Percent-decodes one raw segment and validates the result.
    static func decode(_ raw: Substring.UTF8View.SubSequence) -> Result<String, Rejection> {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            var c = raw[i]
            if c == UInt8(ascii: "%") {
                let h1 = raw.index(after: i)
                guard h1 < raw.endIndex else { return .failure(.badRequest) }
                let h2 = raw.index(after: h1)
                guard h2 < raw.endIndex, let hi = hex(raw[h1]), let lo = hex(raw[h2]) else { return .failure(.badRequest) }
                c = hi << 4 | lo
                i = raw.index(after: h2)
            } else {
                i = raw.index(after: i)
            }
            if c < 0x20 || c == 0x7F || c == UInt8(ascii: "/") { return .failure(.notFound) }
            out.append(c)
        }
        guard out.count <= maxSegmentBytes, let s = String(validating: out, as: UTF8.self) else { return .failure(.notFound) }
        return .success(s)
    }

    @inline(__always)
    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Percent-encodes one segment for a URL (RFC 3986 unreserved characters and sub-delims stay as is).
    public static func encode(_ segment: String) -> String {
        var out = ""
        out.reserveCapacity(segment.utf8.count)
        for c in segment.utf8 {
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "!"), UInt8(ascii: "$"),
                 UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                 UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: ":"), UInt8(ascii: "@"):
                out.unicodeScalars.append(Unicode.Scalar(c))
            default:
                let digits: [Character] = Array("0123456789ABCDEF")
                out.append("%")
                out.append(digits[Int(c >> 4)])
                out.append(digits[Int(c & 15)])
            }
        }
        return out
    }

    /// A URL path from segments (each percent-encoded), with or without the trailing slash.
    public static func url(_ segments: [String], trailingSlash: Bool) -> String {
        var s = "/" + segments.map(encode).joined(separator: "/")
        if trailingSlash && !segments.isEmpty { s += "/" }
        return s
    }
}

/// The byte range a request asks for, against a file of known size (RFC 9110 §14).
public enum RangeRequest: Equatable, Sendable {
    /// No Range header, or one we ignore (another unit, several ranges, bad syntax): send it all.
    case full
    /// One satisfiable range, as offset and length.
    case partial(offset: Int, length: Int)
    /// Syntactically valid but starts past the end: 416.
    case unsatisfiable

    /// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n`. Only single ranges are honoured: a multi-range
    /// request gets the full representation, which RFC 9110 allows (a server MAY ignore Range).
    public static func parse(_ header: String?, size: Int) -> RangeRequest {
        guard let header else { return .full }
        let h = header.utf8
        guard h.count <= 200 else { return .full }
        let prefix = "bytes=".utf8
        guard h.count > prefix.count, h.prefix(prefix.count).elementsEqual(prefix, by: { lower($0) == $1 }) else { return .full }
        let spec = h.dropFirst(prefix.count).filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
        guard !spec.contains(UInt8(ascii: ",")), let dash = spec.firstIndex(of: UInt8(ascii: "-")) else { return .full }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        if first.isEmpty {
            // Suffix range: the last n bytes.
            guard let n = number(last) else { return .full }
            guard n > 0, size > 0 else { return .unsatisfiable }
            let len = min(n, size)
            return .partial(offset: size - len, length: len)
        }
        guard let start = number(first) else { return .full }
        var end = size - 1
        if !last.isEmpty {
            guard let e = number(last) else { return .full }
            guard e >= start else { return .full } // invalid range-spec: ignore the header
            end = min(e, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(offset: start, length: end - start + 1)
    }

    @inline(__always) static func lower(_ c: UInt8) -> UInt8 { c >= 65 && c <= 90 ? c + 32 : c }

    /// A non-negative decimal, saturating at `Int.max` (a huge last-byte-pos means "to the end"), or nil.
    static func number(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty else { return nil }
        var v = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int(d - UInt8(ascii: "0")))
            v = (o1 || o2) ? Int.max : a
        }
        return v
    }
}
