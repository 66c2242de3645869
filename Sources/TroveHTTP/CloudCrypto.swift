import CCrypto
import Foundation

/// The hashes request signers and upload checksums need, on OpenSSL: HMAC-SHA256 (SigV4, Azure
/// Shared Key), MD5 for `Content-MD5`, and hex/base64 renderings.
public enum CloudCrypto {
    /// HMAC-SHA256 of `data` under `key`.
    public static func hmacSHA256(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self),
                         d.count, &out, &len)
            }
        }
        return Array(out.prefix(Int(len)))
    }

    /// Lowercase hex.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
        return String(decoding: out, as: UTF8.self)
    }

    /// MD5 of `bytes`.
    public static func md5(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        bytes.withUnsafeBytes { b in _ = EVP_Digest(b.baseAddress, b.count, &out, &len, EVP_md5(), nil) }
        return Array(out.prefix(Int(len)))
    }

    /// Base64 of MD5, the `Content-MD5` header value (S3 and Azure reject a body that does not match it).
    public static func contentMD5(_ bytes: [UInt8]) -> String {
        Data(md5(bytes)).base64EncodedString()
    }
}
