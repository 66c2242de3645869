import CCrypto

/// HMAC-SHA256 (OpenSSL's one-shot `HMAC`), for signed URLs and anything else that needs a keyed MAC.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func mac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len: UInt32 = 0
        key.withUnsafeBytes { k in
            message.withUnsafeBytes { m in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!, Int32(k.count),
                             m.baseAddress?.assumingMemoryBound(to: UInt8.self), m.count, o.baseAddress, &len)
                }
            }
        }
        return Array(out.prefix(Int(len)))
    }
}

/// Compares two byte strings in time that depends only on their lengths (OpenSSL's `CRYPTO_memcmp`),
/// so a secret cannot be guessed byte by byte from response times.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { x in b.withUnsafeBytes { y in CRYPTO_memcmp(x.baseAddress, y.baseAddress, a.count) == 0 } }
}
