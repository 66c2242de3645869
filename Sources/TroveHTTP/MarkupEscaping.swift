/// Escaping of text for XML and HTML, in one place: request bodies sent to cloud stores (S3's
/// DeleteObjects) and the server-rendered catalogue pages, where every string that comes from a store
/// (project, version and file names) goes through here before it reaches markup.
public enum MarkupEscaping {
    /// `&`, `<`, `>`, `"` and `'` as character references (`&#39;`, which XML and HTML both read):
    /// safe in element text and in quoted attributes.
    public static func escape(_ s: String) -> String {
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
