/// How a chunk's bytes are stored inside a pack. Part of the storage format: values never change meaning.
public enum Codec: UInt8, Sendable, Codable, CustomStringConvertible {
    /// Stored as is (compression did not pay).
    case raw = 0
    /// One zstd frame.
    case zstd = 1
    /// One zstd frame compressed with a trained dictionary named next to the chunk.
    case zstdDictionary = 2

    public var description: String {
        switch self {
        case .raw: "raw"
        case .zstd: "zstd"
        case .zstdDictionary: "zstd+dict"
        }
    }
}

/// Turns raw chunk bytes into stored bytes and back, verifying the digest on the way out.
public enum ChunkCodec {
    /// Compression must save at least 1/32 of the chunk to be worth a decode on every read.
    @inline(__always)
    public static func pays(raw: Int, compressed: Int) -> Bool {
        compressed < raw - raw / 32 && compressed < raw
    }

    /// Decodes stored bytes and checks the result against `digest`; throws on any mismatch, so callers
    /// never see wrong bytes.
    public static func decode(_ stored: UnsafeRawBufferPointer, codec: Codec, rawSize: Int, digest: Digest,
                              dictionary: ZstdDictionary?, decompressor: borrowing ZstdDecompressor) throws -> [UInt8] {
        let raw: [UInt8]
        switch codec {
        case .raw:
            guard stored.count == rawSize else { throw CorruptChunkError(digest: digest, reason: "stored size \(stored.count) != raw size \(rawSize)") }
            raw = Array(stored)
        case .zstd:
            do { raw = try decompressor.decompress(stored, rawSize: rawSize) }
            catch { throw CorruptChunkError(digest: digest, reason: "\(error)") }
        case .zstdDictionary:
            guard let dictionary else { throw CorruptChunkError(digest: digest, reason: "dictionary missing") }
            do { raw = try decompressor.decompress(stored, rawSize: rawSize, dictionary: dictionary) }
            catch { throw CorruptChunkError(digest: digest, reason: "\(error)") }
        }
        let actual = raw.withUnsafeBytes { Digest.sha256($0) }
        guard actual == digest else {
            throw CorruptChunkError(digest: digest, reason: "content hashes to \(actual.short)")
        }
        return raw
    }
}

/// A stored chunk did not decode to its digest: the blob is corrupt or was tampered with.
public struct CorruptChunkError: Error, CustomStringConvertible {
    public let digest: Digest
    public let reason: String
    public var description: String { "corrupt chunk \(digest.hex): \(reason)" }
}
