import Foundation
import TroveContent
#if canImport(Glibc)
import Glibc
#endif

/// Trains a project's zstd dictionary from a deterministic sample of its text files, cut into
/// chunk-sized samples the way publish will cut them.
enum DictionaryTrainer {
    static let textExtensions: Set<String> = ["html", "htm", "css", "js", "json", "fjson", "svg", "txt", "xml", "map", "md", "rst", "py", "xhtml", "opf", "ncx"]
    /// Sample budget. zstd suggests ~100× the dictionary size, but on a real docs build one fast COVER
    /// pass over 2 MiB trained a better dictionary than zstd's parameter search over 8 MiB, 15× faster
    /// (trove-bench --dict-sweep; docs/benchmarks.md).
    static let sampleBudget = 2 << 20
    static let minimumSample = 256 << 10
    static let dictionarySize = 112 << 10
    /// At most this much of one file is sampled.
    static let readLimit = 1 << 20

    /// Blocking; returns nil when the tree has too little text to be worth a dictionary.
    static func train(root: String, files: [WalkEntry], chunker params: ChunkerParameters) throws -> ZstdDictionary? {
        let text = files.filter { f in
            guard let dot = f.path.lastIndex(of: ".") else { return false }
            return textExtensions.contains(f.path[f.path.index(after: dot)...].lowercased()) && f.size > 0
        }
        let total = text.reduce(0) { $0 + $1.size }
        guard total >= minimumSample else { return nil }
        // Every k-th file (stable order), so the sample spans the whole site, not its first folder.
        let stride = max(1, total / sampleBudget + (total % sampleBudget == 0 ? 0 : 1))
        let chunker = FastCDC(params)
        // Samples go straight into one buffer, cut the way publish will cut them.
        var joined = [UInt8]()
        joined.reserveCapacity(sampleBudget + readLimit)
        var sizes: [Int] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: readLimit, alignment: 16)
        defer { buffer.deallocate() }
        for (i, f) in text.enumerated() where i % stride == 0 && joined.count < sampleBudget {
            let n = readPrefix(root + "/" + f.path, into: buffer)
            guard n > 0 else { continue }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[..<n])
            var off = 0
            for len in chunker.chunkLengths(of: bytes) {
                if len >= 8 {
                    joined.append(contentsOf: bytes[off..<(off + len)])
                    sizes.append(len)
                }
                off += len
            }
        }
        guard let dict = ZstdDictionary.train(joined: joined, sizes: sizes, capacity: dictionarySize) else { return nil }
        return try ZstdDictionary(bytes: dict)
    }

    /// Reads up to `buffer.count` bytes from the start of a file; 0 when it cannot be read (the
    /// workers report unreadable files; a sample just skips them).
    private static func readPrefix(_ path: String, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        return (try? FileIO.readFull(fd, into: buffer)) ?? 0
    }
}
