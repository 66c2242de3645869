#if canImport(Glibc)
import Glibc
#endif

/// What the raw fast path makes of one HTTP/1.1 request head, read straight from the socket's bytes
/// (`RawFastPathHandler`). The parser is deliberately narrow: it accepts only heads it understands
/// completely, and anything else goes to SwiftNIO's HTTP decoder, which is always correct.
enum RawRequestHead: Equatable {
    /// A keep-alive `GET`/`HEAD` with an origin-form target, no body, no `Range`: the fast path may
    /// answer it without the HTTP decoder.
    case fast(isHead: Bool, target: String, acceptEncoding: String?, ifNoneMatch: String?)
    /// A well-formed `GET`/`HEAD` without a body, but not for the fast path (a `Range`,
    /// `Connection: close`, a duplicated header, …): the decoder gets exactly these bytes as one complete request.
    case bodyless
    /// A body, an upgrade, another HTTP version or anything this parser does not fully understand:
    /// from here on the connection belongs to the decoder.
    case other

    /// Heads longer than this are left to the decoder (which has its own, larger limits).
    static let maxBytes = 16 * 1024

    /// Where the head at the start of `bytes` ends.
    enum End: Equatable {
        /// The index just past its blank line.
        case complete(Int)
        case incomplete
        /// A line ends in a bare LF: not a head this parser takes.
        case malformed
    }

    static func end(in bytes: UnsafeRawBufferPointer) -> End {
        guard let base = bytes.baseAddress else { return .incomplete }
        // Every LF (found with memchr) must follow a CR; the first one that follows CR LF CR ends the head.
        var from = 0
        while from < bytes.count, let hit = memchr(base + from, Int32(lf), bytes.count - from) {
            let k = base.distance(to: UnsafeRawPointer(hit))
            guard k >= 1, bytes[k - 1] == cr else { return .malformed }
            if k >= 3, bytes[k - 2] == lf, bytes[k - 3] == cr { return .complete(k + 1) }
            from = k + 1
        }
        return .incomplete
    }

    /// Classifies one complete head: `bytes` runs from the request line to the blank line inclusive.
    static func classify(_ bytes: UnsafeRawBufferPointer) -> RawRequestHead {
        let n = bytes.count
        guard n >= 4, n <= maxBytes else { return .other }
        // Request line: METHOD SP target SP HTTP/1.1 CRLF, single spaces, visible ASCII only.
        var i = 0
        while i < n, isTokenByte(bytes[i]) { i += 1 }
        let methodEnd = i
        guard methodEnd > 0, i < n, bytes[i] == sp else { return .other }
        i += 1
        let targetStart = i
        while i < n, bytes[i] > sp, bytes[i] < 0x7F { i += 1 }
        let targetEnd = i
        guard targetEnd > targetStart, i < n, bytes[i] == sp else { return .other }
        i += 1
        let version: StaticString = "HTTP/1.1\r\n"
        guard n - i >= version.utf8CodeUnitCount else { return .other }
        for k in 0..<version.utf8CodeUnitCount where bytes[i + k] != version.utf8Start[k] { return .other }
        i += version.utf8CodeUnitCount

        let method = UnsafeRawBufferPointer(rebasing: bytes[0..<methodEnd])
        let isGet = equal(method, "GET"), isHead = equal(method, "HEAD")
        // Other methods may carry a body or switch protocols (CONNECT): not ours.
        guard isGet || isHead else { return .other }
        // Origin-form only: `*` and absolute-form targets are left to the decoder.
        guard bytes[targetStart] == UInt8(ascii: "/") else { return .other }
        var fast = true
        var acceptEncoding: String? = nil, ifNoneMatch: String? = nil
        var seenAcceptEncoding = false, seenIfNoneMatch = false

        // Header lines: token ":" OWS value OWS CRLF, until the empty line.
        while true {
            guard i + 1 < n else { return .other }
            if bytes[i] == cr {
                guard bytes[i + 1] == lf, i + 2 == n else { return .other }
                break
            }
            let nameStart = i
            while i < n, isTokenByte(bytes[i]) { i += 1 }
            let nameEnd = i
            // No space before the colon, no obs-fold (a line starting with whitespace), no empty name.
            guard nameEnd > nameStart, i < n, bytes[i] == colon else { return .other }
            i += 1
            var valueStart = i
            while i < n, bytes[i] != cr {
                let b = bytes[i]
                // Visible ASCII, space, tab and obs-text; any other control byte (a bare LF, NUL, …) is not ours.
                guard b >= sp || b == tab, b != 0x7F else { return .other }
                i += 1
            }
            guard i + 1 < n, bytes[i + 1] == lf else { return .other }
            var valueEnd = i
            i += 2
            while valueStart < valueEnd, bytes[valueStart] == sp || bytes[valueStart] == tab { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == sp || bytes[valueEnd - 1] == tab { valueEnd -= 1 }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd])
            switch name.count {
            case 5 where equalIgnoringCase(name, "range"):
                fast = false
            case 6 where equalIgnoringCase(name, "expect"):
                return .other
            case 7 where equalIgnoringCase(name, "upgrade"):
                return .other
            case 10 where equalIgnoringCase(name, "connection"):
                if !equalIgnoringCase(value, "keep-alive") { fast = false }
            case 13 where equalIgnoringCase(name, "if-none-match"):
                if seenIfNoneMatch { fast = false }
                seenIfNoneMatch = true
                if fast { ifNoneMatch = String(decoding: value, as: UTF8.self) }
            case 14 where equalIgnoringCase(name, "content-length"):
                return .other
            case 15 where equalIgnoringCase(name, "accept-encoding"):
                if seenAcceptEncoding { fast = false }
                seenAcceptEncoding = true
                if fast { acceptEncoding = String(decoding: value, as: UTF8.self) }
            case 17 where equalIgnoringCase(name, "transfer-encoding"):
                return .other
            default:
                break
            }
        }
        guard fast else { return .bodyless }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self)
        return .fast(isHead: isHead, target: target, acceptEncoding: acceptEncoding, ifNoneMatch: ifNoneMatch)
    }

    /// The values of the headers `lowercasedNames` in a head that `classify` accepted as `.fast`, in the
    /// order of the names (nil: absent), or nil when one of them appears more than once.
    static func values(of lowercasedNames: [String], in bytes: UnsafeRawBufferPointer) -> [String?]? {
        var out = [String?](repeating: nil, count: lowercasedNames.count)
        let n = bytes.count
        var i = 0
        while i < n, bytes[i] != lf { i += 1 }
        i += 1
        while i + 1 < n, bytes[i] != cr {
            let nameStart = i
            while i < n, bytes[i] != colon { i += 1 }
            let nameEnd = i
            i += 1
            var valueStart = i
            while i < n, bytes[i] != cr { i += 1 }
            var valueEnd = i
            i += 2
            while valueStart < valueEnd, bytes[valueStart] == sp || bytes[valueStart] == tab { valueStart += 1 }
            while valueEnd > valueStart, bytes[valueEnd - 1] == sp || bytes[valueEnd - 1] == tab { valueEnd -= 1 }
            let name = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<nameEnd])
            for (k, wanted) in lowercasedNames.enumerated() where equalIgnoringCase(name, wanted) {
                guard out[k] == nil else { return nil }
                out[k] = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<valueEnd]), as: UTF8.self)
            }
        }
        return out
    }

    private static let sp: UInt8 = 0x20, tab: UInt8 = 0x09, cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, colon: UInt8 = 0x3A

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }

    private static func equal(_ a: UnsafeRawBufferPointer, _ b: StaticString) -> Bool {
        guard a.count == b.utf8CodeUnitCount else { return false }
        for k in 0..<a.count where a[k] != b.utf8Start[k] { return false }
        return true
    }

    /// ASCII case-insensitive comparison with a lower-case string.
    private static func equalIgnoringCase(_ a: UnsafeRawBufferPointer, _ lower: String) -> Bool {
        guard a.count == lower.utf8.count else { return false }
        var k = 0
        for l in lower.utf8 {
            var c = a[k]
            if c >= UInt8(ascii: "A"), c <= UInt8(ascii: "Z") { c |= 0x20 }
            if c != l { return false }
            k += 1
        }
        return true
    }

    /// ASCII case-insensitive comparison with a lower-case literal.
    private static func equalIgnoringCase(_ a: UnsafeRawBufferPointer, _ lower: StaticString) -> Bool {
        guard a.count == lower.utf8CodeUnitCount else { return false }
        for k in 0..<a.count {
            var c = a[k]
            if c >= UInt8(ascii: "A"), c <= UInt8(ascii: "Z") { c |= 0x20 }
            if c != lower.utf8Start[k] { return false }
        }
        return true
    }
}
