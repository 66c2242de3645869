/// The ordered list of simple CSS selectors that names a page's main content (`MainContent`): the
/// first selector, in list order, that matches an element wins. Themes differ (Sphinx marks
/// `[role=main]`, Django's own theme only `#yui-main`), so the list is a setting
/// (`publish.main_content_selectors`) and every manifest records the list its digests used: a diff
/// compares main content only between builds digested with the same list.
///
/// Grammar (a subset of CSS, one home: `init(_:)`): selectors separated by commas; each is a compound
/// of an optional tag name then any of `.class`, `#id`, `[attribute]`, `[attribute=value]` (value
/// bare or quoted). No combinators, no pseudo-classes, no `*`.
public struct MainContentSelectors: Sendable, Hashable, CustomStringConvertible {
    /// One compound selector. Names are stored lowercase; values as written. Matching is ASCII
    /// case-insensitive throughout (tag and attribute names as HTML says; values for simplicity).
    public struct Selector: Sendable, Hashable, CustomStringConvertible {
        public struct Attribute: Sendable, Hashable {
            public var name: [UInt8]
            /// nil for `[name]` (present with any value).
            public var value: [UInt8]?
        }
        public var tag: [UInt8]?
        public var id: [UInt8]?
        public var classes: [[UInt8]] = []
        public var attributes: [Attribute] = []

        /// The canonical text: tag, then `#id`, `.class`es and `[attribute]`s in that order.
        public var description: String {
            func s(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
            func quoted(_ v: [UInt8]) -> String {
                v.allSatisfy(MainContentSelectors.isNameByte) ? s(v) : "\"" + s(v) + "\""
            }
            return (tag.map(s) ?? "") + (id.map { "#" + s($0) } ?? "") + classes.map { "." + s($0) }.joined()
                + attributes.map { "[" + s($0.name) + ($0.value.map { "=" + quoted($0) } ?? "") + "]" }.joined()
        }

        /// What a selector without a tag name is searched for in the page (a tagged one is found by
        /// its tag): an attribute name other than `class`/`id` (lowercase, as HTML serialisers write
        /// it), else the id, else the longest class, as written.
        var needle: [UInt8]? {
            guard tag == nil else { return nil }
            if let a = attributes.first(where: { $0.name != Array("class".utf8) && $0.name != Array("id".utf8) }) { return a.name }
            if let id { return id }
            if let c = classes.max(by: { $0.count < $1.count }) { return c }
            return attributes.first?.value ?? attributes.first?.name
        }
    }

    public let selectors: [Selector]

    /// At most this many selectors (each costs the scanner a little on every page).
    public static let maxCount = 16

    /// The default list, documented in docs/storage-format.md; also what a format-2 manifest that
    /// records no list was digested with.
    public static let standard = try! MainContentSelectors("[role=main], main, div.body, article")

    public var description: String { selectors.map(\.description).joined(separator: ", ") }

    public struct ParseError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Parses a comma-separated selector list; throws naming the selector and what is wrong with it.
    public init(_ text: String) throws(ParseError) {
        var list: [Selector] = []
        var rest = Substring(text)
        while true {
            let (one, more) = try MainContentSelectors.splitFirst(rest)
            list.append(try MainContentSelectors.parseCompound(one.trimmingSpaces()))
            guard let more else { break }
            rest = more
        }
        guard list.count <= MainContentSelectors.maxCount else {
            throw ParseError(description: "main-content selectors: \(list.count) given, at most \(MainContentSelectors.maxCount)")
        }
        selectors = list
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x5F || b >= 0x80
    }

    /// The text up to the first comma outside brackets and quotes, and what follows it.
    static func splitFirst(_ s: Substring) throws(ParseError) -> (Substring, Substring?) {
        var quote: Character? = nil, bracket = false
        for i in s.indices {
            let c = s[i]
            if let q = quote { if c == q { quote = nil }; continue }
            switch c {
            case "\"", "'": if bracket { quote = c }
            case "[": bracket = true
            case "]": bracket = false
            case "," where !bracket: return (s[..<i], s[s.index(after: i)...])
            default: break
            }
        }
        return (s, nil)
    }

    static func parseCompound(_ text: Substring) throws(ParseError) -> Selector {
        func fail(_ why: String) -> ParseError {
            ParseError(description: "main-content selector '\(text)': \(why) (supported: a tag name, .class, #id, [attribute], [attribute=value], combined without spaces; separate selectors with commas)")
        }
        let b = Array(text.utf8)
        guard !b.isEmpty else { throw fail("empty") }
        var sel = Selector()
        var i = 0
        func name(_ what: String) throws(ParseError) -> [UInt8] {
            let s = i
            while i < b.count && isNameByte(b[i]) { i += 1 }
            guard i > s else { throw fail("\(what) expected at '\(String(decoding: b[s...], as: UTF8.self))'") }
            return Array(b[s..<i])
        }
        func lower(_ n: [UInt8]) -> [UInt8] { n.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } }
        if isNameByte(b[0]) { sel.tag = lower(try name("a tag name")) }
        while i < b.count {
            let c = b[i]
            i += 1
            switch c {
            case UInt8(ascii: "."): sel.classes.append(try name("a class name"))
            case UInt8(ascii: "#"):
                guard sel.id == nil else { throw fail("two ids") }
                sel.id = try name("an id")
            case UInt8(ascii: "["):
                while i < b.count && b[i] == 0x20 { i += 1 }
                let n = lower(try name("an attribute name"))
                while i < b.count && b[i] == 0x20 { i += 1 }
                var value: [UInt8]? = nil
                if i < b.count && b[i] == UInt8(ascii: "=") {
                    i += 1
                    while i < b.count && b[i] == 0x20 { i += 1 }
                    if i < b.count && (b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'")) {
                        let q = b[i]
                        guard let end = b[(i + 1)...].firstIndex(of: q) else { throw fail("unterminated quote") }
                        value = Array(b[(i + 1)..<end])
                        i = end + 1
                    } else {
                        value = try name("an attribute value")
                    }
                    while i < b.count && b[i] == 0x20 { i += 1 }
                }
                guard i < b.count && b[i] == UInt8(ascii: "]") else { throw fail("']' expected") }
                i += 1
                sel.attributes.append(.init(name: n, value: value))
            case 0x20, 0x09, UInt8(ascii: ">"), UInt8(ascii: "+"), UInt8(ascii: "~"):
                throw fail("combinators are not supported")
            case UInt8(ascii: ":"): throw fail("pseudo-classes are not supported")
            case UInt8(ascii: "*"): throw fail("'*' is not supported")
            default: throw fail("unexpected '\(String(decoding: [c], as: UTF8.self))'")
            }
        }
        if let v = sel.attributes.first(where: { $0.value?.isEmpty == true }) {
            throw fail("attribute [\(String(decoding: v.name, as: UTF8.self))=] needs a value")
        }
        return sel
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s = s.dropLast() }
        return s
    }
}
