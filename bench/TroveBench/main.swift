// trove-bench: single-run, side-by-side throughput of Trove's hot loops on a corpus, against this
// machine's hash+compress limit measured in the same run. See docs/benchmarks.md.
//
//   trove-bench micro CORPUS_DIR [--max-mib 256]
//   trove-bench manifest MANIFEST.sqlite      time rewriting a real manifest (publish's manifest phase)
//
// Prints one JSON object per line and a table.
import Dispatch
import Foundation
import TroveContent
import TroveManifest

struct Corpus {
    var buffers: [[UInt8]] = []
    var bytes: Int { buffers.reduce(0) { $0 + $1.count } }

    /// The files under `dir` in path order (those `only` accepts), up to `maxBytes` in all.
    static func load(_ dir: String, maxBytes: Int, only: (String) -> Bool = { _ in true }) -> Corpus {
        var c = Corpus()
        let fm = FileManager.default
        guard let e = fm.enumerator(atPath: dir) else { return c }
        var paths: [String] = []
        while let p = e.nextObject() as? String { paths.append(p) }
        for p in paths.sorted() where only(p) {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: dir + "/" + p, isDirectory: &isDir), !isDir.boolValue,
                  let d = fm.contents(atPath: dir + "/" + p), !d.isEmpty else { continue }
            c.buffers.append([UInt8](d.prefix(maxBytes - c.bytes)))
            if c.bytes >= maxBytes { break }
        }
        return c
    }
}

func measure(_ label: String, bytes: Int, repeat n: Int = 3, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<n {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    let gbps = Double(bytes) / best / 1e9
    let padded = label.padding(toLength: 44, withPad: " ", startingAt: 0)
    print(padded + String(format: "%8.3f GB/s  (%.3f s for %.1f MiB)", gbps, best, Double(bytes) / 1048576))
    return gbps
}

/// Splits `corpus` into chunk-sized pieces the way publish does.
func chunkAll(_ corpus: Corpus, _ c: FastCDC) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for b in corpus.buffers {
        b.withUnsafeBytes { raw in
            var off = 0
            for l in c.chunkLengths(of: raw) { out.append(Array(raw[off..<(off + l)])); off += l }
        }
    }
    return out
}

/// Runs `perThread` once per thread; each gets the indices t, t+threads, ... to work through.
func parallel(_ threads: Int, _ perThread: @Sendable @escaping (_ thread: Int, _ stride: Int) -> Void) {
    DispatchQueue.concurrentPerform(iterations: threads) { t in perThread(t, threads) }
}

let args = CommandLine.arguments
if args.count >= 3, args[1] == "manifest" {
    // Rebuild the tree of an existing manifest, then time what publish does with it: build the SQLite
    // manifest and compress it for storage.
    let m = try Manifest(path: args[2], digest: Digest.sha256(Array(FileManager.default.contents(atPath: args[2])!)))
    let tree = try m.list().map { r in (r, r.kind == .file ? try m.chunks(of: r) : []) }
    var bytes: [UInt8] = [], object: [UInt8] = []
    var best = (build: Double.infinity, hash: Double.infinity, compress: Double.infinity)
    let reps = Int(ProcessInfo.processInfo.environment["REPS"] ?? "") ?? 5
    for _ in 0..<reps {
        let t0 = DispatchTime.now().uptimeNanoseconds
        bytes = try ManifestWriter.encode(tree: tree, metadata: m.metadata)
        let t1 = DispatchTime.now().uptimeNanoseconds
        _ = Digest.sha256(bytes)
        let t2 = DispatchTime.now().uptimeNanoseconds
        object = try ManifestCodec.encode(bytes)
        let t3 = DispatchTime.now().uptimeNanoseconds
        best = (min(best.build, Double(t1 - t0) / 1e6), min(best.hash, Double(t2 - t1) / 1e6), min(best.compress, Double(t3 - t2) / 1e6))
    }
    // MANIFEST_OUT=path keeps the rebuilt manifest for inspection (sqlite3, cmp).
    if let out = ProcessInfo.processInfo.environment["MANIFEST_OUT"] {
        _ = FileManager.default.createFile(atPath: out, contents: Data(bytes))
    }
    let chunks = tree.reduce(0) { $0 + $1.1.count }
    print(String(format: "manifest: %d entries, %d chunk refs, %d bytes (sha256 %@), stored %d bytes; build %.1f ms, hash %.1f ms, compress %.1f ms (best of %d)",
                 tree.count, chunks, bytes.count, Digest.sha256(bytes).short, object.count, best.build, best.hash, best.compress, reps))
    exit(0)
}
guard args.count >= 3, args[1] == "micro" else {
    FileHandle.standardError.write(Data("usage: trove-bench micro CORPUS_DIR [--max-mib N] | manifest MANIFEST.sqlite\n".utf8))
    exit(64)
}
let maxMiB = args.firstIndex(of: "--max-mib").map { Int(args[$0 + 1]) ?? 256 } ?? 256
let corpus = Corpus.load(args[2], maxBytes: maxMiB << 20)
let n = corpus.bytes
let cores = ProcessInfo.processInfo.activeProcessorCount
print("corpus: \(corpus.buffers.count) files, \(n >> 20) MiB from \(args[2]); \(cores) cores")
let cdc = FastCDC(.default)
var results: [String: Double] = [:]

results["chunker_1core"] = measure("FastCDC 2/8/64 KiB, 1 core", bytes: n) {
    var count = 0
    for b in corpus.buffers { b.withUnsafeBytes { count += cdc.chunkLengths(of: $0).count } }
    precondition(count > 0)
}
results["sha256_1core"] = measure("SHA-256, 1 core", bytes: n) {
    for b in corpus.buffers { _ = Digest.sha256(b) }
}
let chunks = chunkAll(corpus, cdc)
let out = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdCompressor.bound(1 << 20 + 65536), alignment: 16)
results["zstd3_1core"] = measure("zstd -3 per chunk, 1 core", bytes: n, repeat: 2) {
    let z = ZstdCompressor()
    for c in chunks { _ = c.withUnsafeBytes { try! z.compress($0, into: out, dictionary: nil) } }
}
var samples: [[UInt8]] = []
var sampled = 0
for (i, c) in chunks.enumerated() where i % max(1, n / (8 << 20)) == 0 && sampled < 8 << 20 { samples.append(c); sampled += c.count }
let dict = ZstdDictionary.train(samples: samples).flatMap { try? ZstdDictionary(bytes: $0) }
if let dict {
    results["zstd3dict_1core"] = measure("zstd -3 + dictionary per chunk, 1 core", bytes: n, repeat: 2) {
        let z = ZstdCompressor()
        for c in chunks { _ = c.withUnsafeBytes { try! z.compress($0, into: out, dictionary: dict) } }
    }
}
// The machine's limit for publish's unavoidable work: SHA-256 + zstd of every chunk, on all cores.
let shared = chunks
results["hash_compress_limit_all_cores"] = measure("limit: SHA-256 + zstd, \(cores) cores", bytes: n) {
    parallel(cores) { t, stride in
        let z = ZstdCompressor()
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: ZstdCompressor.bound(65536), alignment: 16)
        defer { buf.deallocate() }
        for i in Swift.stride(from: t, to: shared.count, by: stride) {
            shared[i].withUnsafeBytes { raw in
                _ = Digest.sha256(raw)
                _ = try! z.compress(raw, into: buf, dictionary: dict)
            }
        }
    }
}
results["hash_only_limit_all_cores"] = measure("limit: SHA-256 only, \(cores) cores", bytes: n) {
    parallel(cores) { t, stride in
        for i in Swift.stride(from: t, to: shared.count, by: stride) { _ = Digest.sha256(shared[i]) }
    }
}
// Main-content digests (`MainContent`): scan + SHA-256 of the main content of every HTML page, which
// publish adds per page on top of the limit's work; `html_bytes` says how much of the corpus that is.
let htmlPages = Corpus.load(args[2], maxBytes: maxMiB << 20, only: MainContent.isHTML)
results["html_bytes"] = Double(htmlPages.bytes)
results["main_content_1core"] = measure("main-content scan + SHA-256, HTML, 1 core", bytes: htmlPages.bytes) {
    var sum: UInt64 = 0
    for b in htmlPages.buffers { b.withUnsafeBytes { sum &+= MainContent.digest(of: $0).w0 } }
    precondition(sum != 0)
}
results["main_content_scan_1core"] = measure("main-content scan only, HTML, 1 core", bytes: htmlPages.bytes) {
    var sum = 0
    for b in htmlPages.buffers { b.withUnsafeBytes { sum &+= MainContent.range(in: $0).count } }
    precondition(sum > 0)
}
let total = chunks.reduce(0) { $0 + $1.count }
precondition(total == n)
print("chunks: \(chunks.count), average \(n / max(chunks.count, 1)) bytes")
let enc = JSONEncoder()
enc.outputFormatting = [.sortedKeys]
print(String(decoding: try! enc.encode(results), as: UTF8.self))

// Dictionary training: time to train and stored size of every chunk, per training setting.
if args.contains("--dict-sweep") {
    func stored(_ d: ZstdDictionary?) -> Int {
        let z = ZstdCompressor()
        return chunks.reduce(0) { acc, c in acc + min(c.count, c.withUnsafeBytes { (try? z.compress($0, into: out, dictionary: d)) ?? c.count }) }
    }
    print("no dictionary: \(stored(nil) >> 10) KiB stored")
    for budget in [2 << 20, 4 << 20, 8 << 20] {
        var s: [[UInt8]] = [], taken = 0
        for (i, c) in chunks.enumerated() where i % max(1, n / budget) == 0 && taken < budget { s.append(c); taken += c.count }
        for training in [ZstdDictionary.Training.search, .fastCover(k: 1024, d: 8, f: 20), .fastCover(k: 1024, d: 8, f: 16), .fastCover(k: 256, d: 8, f: 16)] {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let bytes = ZstdDictionary.train(samples: s, training: training)
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let d = bytes.flatMap { try? ZstdDictionary(bytes: $0) }
            print("samples \(taken >> 20) MiB, \(training): \(String(format: "%.2f", secs)) s, dict \((bytes?.count ?? 0) >> 10) KiB, stored \(stored(d) >> 10) KiB")
        }
    }
}
