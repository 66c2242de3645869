/// Escaping for text and attribute values of the server-rendered catalogue pages: every string that
/// comes from a store (project, version and file names) goes through here before it reaches HTML.
enum HTMLEscaping {
    /// `&`, `<`, `>`, `"` and `'` as character references: safe in element text and in quoted attributes.
    static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x26 || $0 == 0x3C || $0 == 0x3E || $0 == 0x22 || $0 == 0x27 }) else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 16)
        for ch in s.unicodeScalars {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }
}
