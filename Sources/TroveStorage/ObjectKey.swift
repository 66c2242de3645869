/// A validated object name: `/`-separated segments of `[A-Za-z0-9._@+=-]`, no empty, `.` or `..` segment.
///
/// Validation here is what keeps a key from ever escaping a local store's root directory or naming
/// something unexpected in a bucket, whatever a caller passes in.
public struct ObjectKey: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public let rawValue: String

    public init(_ raw: String) throws(InvalidKeyError) {
        guard !raw.isEmpty, raw.utf8.count <= 1024 else { throw InvalidKeyError(key: raw) }
        var segmentStart = true
        var segment: [UInt8] = []
        for c in raw.utf8 {
            if c == UInt8(ascii: "/") {
                if segmentStart || segment == [46] || segment == [46, 46] { throw InvalidKeyError(key: raw) }
                segmentStart = true
                segment.removeAll(keepingCapacity: true)
                continue
            }
            guard ObjectKey.allowed(c) else { throw InvalidKeyError(key: raw) }
            segmentStart = false
            segment.append(c)
        }
        if segmentStart || segment == [46] || segment == [46, 46] { throw InvalidKeyError(key: raw) }
        rawValue = raw
    }

    /// For literals in code, which are known valid; traps on an invalid literal.
    public init(stringLiteral value: String) {
        do { try self.init(value) } catch { preconditionFailure("invalid object key literal \(value)") }
    }

    public var description: String { rawValue }
    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.rawValue < b.rawValue }

    /// The key's path segments.
    public var segments: [Substring] { rawValue.split(separator: "/") }

    static func allowed(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "@"), UInt8(ascii: "+"), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}

public struct InvalidKeyError: Error, CustomStringConvertible {
    public let key: String
    public var description: String { "invalid object key: \(key.debugDescription.prefix(200))" }
}
