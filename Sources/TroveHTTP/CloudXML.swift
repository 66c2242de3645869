/// A minimal XML reader and writer for the small, flat documents of cloud storage APIs (S3 and Azure
/// errors, listings, delete results).
///
/// Handles elements, attributes (skipped), text with the five named entities and numeric character
/// references, CDATA, comments and the XML declaration; enough without FoundationXML/libxml2.
public struct CloudXML: Sendable {
    public var name: String
    public var text: String
    public var children: [CloudXML]

    /// The first child named `name`.
    public func child(_ name: String) -> CloudXML? { children.first { $0.name == name } }
    /// The text of the first child named `name`.
    public subscript(_ name: String) -> String? { child(name)?.text }
    /// All children named `name`.
    public func all(_ name: String) -> [CloudXML] { children.filter { $0.name == name } }

    /// Parses a document and returns its root element, or nil if it is not well-formed enough.
    public static func parse(_ bytes: [UInt8]) -> CloudXML? {
        var p = Parser(b: bytes)
        return p.document()
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0

        mutating func document() -> CloudXML? {
            skipMisc()
            guard i < b.count, b[i] == UInt8(ascii: "<") else { return nil }
            return element()
        }

        mutating func skipMisc() {
            while true {
                while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 || b[i] == 0xEF || b[i] == 0xBB || b[i] == 0xBF { i += 1 }
                if starts("<?") { skip(past: "?>") } else if starts("<!--") { skip(past: "-->") } else if starts("<!DOCTYPE") { skip(past: ">") } else { return }
            }
        }

        func starts(_ s: String) -> Bool {
            let u = Array(s.utf8)
            return i + u.count <= b.count && Array(b[i..<i + u.count]) == u
        }

        mutating func skip(past s: String) {
            let u = Array(s.utf8)
            while i < b.count && !starts(s) { i += 1 }
            i = min(b.count, i + u.count)
        }

        mutating func element() -> CloudXML? {
            guard i < b.count, b[i] == UInt8(ascii: "<") else { return nil }
            i += 1
            let start = i
            while i < b.count, !isSpace(b[i]), b[i] != UInt8(ascii: ">"), b[i] != UInt8(ascii: "/") { i += 1 }
            let name = String(decoding: b[start..<i], as: UTF8.self)
            // Attributes are skipped (quoted values may hold '>').
            var quote: UInt8? = nil
            while i < b.count {
                let c = b[i]
                if let q = quote { if c == q { quote = nil } } else if c == 0x22 || c == 0x27 { quote = c } else if c == UInt8(ascii: ">") || c == UInt8(ascii: "/") { break }
                i += 1
            }
            guard i < b.count else { return nil }
            if b[i] == UInt8(ascii: "/") {
                i += 2 // "/>"
                return CloudXML(name: name, text: "", children: [])
            }
            i += 1
            var node = CloudXML(name: name, text: "", children: [])
            var text: [UInt8] = []
            while i < b.count {
                if starts("</") {
                    skip(past: ">")
                    node.text = decode(text)
                    return node
                } else if starts("<![CDATA[") {
                    i += 9
                    let s = i
                    while i < b.count && !starts("]]>") { i += 1 }
                    text += b[s..<min(i, b.count)]
                    i = min(b.count, i + 3)
                } else if starts("<!--") {
                    skip(past: "-->")
                } else if starts("<?") {
                    skip(past: "?>")
                } else if b[i] == UInt8(ascii: "<") {
                    guard let child = element() else { return nil }
                    node.children.append(child)
                } else {
                    text.append(b[i])
                    i += 1
                }
            }
            return nil
        }

        func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

        func decode(_ raw: [UInt8]) -> String {
            let s = String(decoding: raw, as: UTF8.self)
            guard s.contains("&") else { return s }
            var out = ""
            var rest = Substring(s)
            while let amp = rest.firstIndex(of: "&") {
                out += rest[..<amp]
                guard let semi = rest[amp...].firstIndex(of: ";") else { out += rest[amp...]; return out }
                let entity = rest[rest.index(after: amp)..<semi]
                switch entity {
                case "amp": out += "&"
                case "lt": out += "<"
                case "gt": out += ">"
                case "quot": out += "\""
                case "apos": out += "'"
                default:
                    var scalar: Unicode.Scalar? = nil
                    if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                        scalar = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init)
                    } else if entity.hasPrefix("#") {
                        scalar = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init)
                    }
                    if let scalar { out.unicodeScalars.append(scalar) } else { out += rest[amp...semi] }
                }
                rest = rest[rest.index(after: semi)...]
            }
            out += rest
            return out
        }
    }
}
