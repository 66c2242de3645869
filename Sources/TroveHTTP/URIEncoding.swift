/// RFC 3986 percent-encoding as both clouds' signatures require it: every byte of the UTF-8 form
/// except the unreserved `A-Za-z0-9-._~` (and the bytes in `keep`, such as `/` in paths) becomes
/// `%XX` with uppercase hex. The one encoder the S3 and Azure signers use.
public enum URIEncoding {
    public static func encode(_ s: String, keep: String = "") -> String {
        let hexDigits = Array("0123456789ABCDEF".utf8)
        let kept = Set(keep.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(b)
            default:
                if kept.contains(b) {
                    out.append(b)
                } else {
                    out.append(UInt8(ascii: "%"))
                    out.append(hexDigits[Int(b >> 4)])
                    out.append(hexDigits[Int(b & 0xF)])
                }
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
