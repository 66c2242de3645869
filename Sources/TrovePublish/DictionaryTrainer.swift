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
        var samples: [[UInt8]] = []
        var taken = 0
        for (i, f) in text.enumerated() where i % stride == 0 && taken < sampleBudget {
            guard let data = FileManager.default.contents(atPath: root + "/" + f.path) else { continue }
            let bytes = [UInt8](data.prefix(1 << 20))
            bytes.withUnsafeBytes { raw in
                var off = 0
                for len in chunker.chunkLengths(of: raw) {
                    samples.append(Array(raw[off..<(off + len)]))
                    off += len
                }
            }
            taken += bytes.count
        }
        guard let dict = ZstdDictionary.train(samples: samples, capacity: dictionarySize) else { return nil }
        return try ZstdDictionary(bytes: dict)
    }
}
