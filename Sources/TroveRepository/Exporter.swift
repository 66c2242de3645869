import Foundation
import TroveContent
import TroveManifest
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// Writes a published build back out as a byte-identical tree (files, directories, symlinks, modes).
/// Every byte is verified against its chunk digest and every file's chunk list against its file digest; a file is
/// written to a temporary name and renamed only once complete, so a corrupt blob never leaves wrong bytes.
public struct Exporter: Sendable {
    public let repository: Repository
    /// Files exported at once.
    public var parallelism = 4

    public init(repository: Repository) { self.repository = repository }

    public struct Result: Sendable, Codable {
        public var files = 0, directories = 0, symlinks = 0, bytes = 0
    }

    public func export(_ manifest: Manifest, to destination: String) async throws -> Result {
        let entries = try manifest.list()
        var result = Result()
        try await BlockingIO.run {
            try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
            for e in entries where e.kind == .dir {
                try FileManager.default.createDirectory(atPath: destination + "/" + e.path, withIntermediateDirectories: true)
            }
            for e in entries where e.kind == .symlink {
                let p = destination + "/" + e.path
                unlink(p)
                guard symlink(e.linkTarget ?? "", p) == 0 else { throw ExportError.io(p, String(cString: strerror(errno))) }
            }
        }
        result.directories = entries.filter { $0.kind == .dir }.count
        result.symlinks = entries.filter { $0.kind == .symlink }.count
        let files = entries.filter { $0.kind == .file }
        try await withThrowingTaskGroup(of: Int.self) { group in
            var it = files.makeIterator()
            func addNext() -> Bool {
                guard let f = it.next() else { return false }
                group.addTask { try await exportFile(f, manifest: manifest, to: destination + "/" + f.path) }
                return true
            }
            for _ in 0..<parallelism where !addNext() { break }
            while let n = try await group.next() {
                result.files += 1
                result.bytes += n
                _ = addNext()
            }
        }
        // Directory modes last: a read-only directory would otherwise block writing its files.
        try await BlockingIO.run {
            for e in entries.reversed() where e.kind == .dir { chmod(destination + "/" + e.path, mode_t(e.mode)) }
        }
        return result
    }

    func exportFile(_ f: FileRecord, manifest: Manifest, to path: String) async throws -> Int {
        let chunks = try manifest.chunks(of: f)
        let tmp = path + ".trove-tmp"
        let fd = try await BlockingIO.run {
            let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw ExportError.io(path, String(cString: strerror(errno))) }
            return fd
        }
        var ok = false
        defer { if !ok { close(fd); unlink(tmp) } }
        var pending: [UInt8] = []
        pending.reserveCapacity(1 << 20)
        var written = 0
        let flush: @Sendable ([UInt8]) async throws -> Void = { buf in
            try await BlockingIO.run {
                do { try buf.withUnsafeBytes { b in try FileIO.writeAll(fd, b) } } catch {
                    throw ExportError.io(path, "\(error)")
                }
            }
        }
        try await ChunkReader(repository: repository).stream(chunks) { chunk in
            pending.append(contentsOf: chunk)
            written += chunk.count
            if pending.count >= 1 << 20 {
                try await flush(pending)
                pending.removeAll(keepingCapacity: true)
            }
        }
        if !pending.isEmpty { try await flush(pending) }
        let digest = Digest.file(chunks: chunks.map(\.digest))
        guard written == f.size, f.digest == nil || digest == f.digest else {
            throw RepositoryError.corrupt("\(f.path): \(written) bytes in chunks \(digest.short), manifest says \(f.size) bytes, \(f.digest?.short ?? "-")")
        }
        try await BlockingIO.run {
            fchmod(fd, mode_t(f.mode))
            close(fd)
            guard rename(tmp, path) == 0 else { throw ExportError.io(path, String(cString: strerror(errno))) }
        }
        ok = true
        return written
    }
}

public enum ExportError: Error, CustomStringConvertible {
    case io(String, String)
    public var description: String {
        switch self { case .io(let p, let m): "cannot write \(p): \(m)" }
    }
}
