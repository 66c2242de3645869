import Foundation
import TroveContent
#if canImport(Glibc)
import Glibc
#endif

/// A store in a local directory (`file:///path`), the embedded default.
///
/// Each object is one file at `root/<key>`; keys are sharded by the repository layout
/// (`packs/ab/abcd…`), so no directory grows huge. Writes are atomic and durable: a temp file in
/// `root/.tmp`, fsync, rename into place, fsync of the directory. Conditional writes (ref switches)
/// are serialised across processes by `flock` on `root/.lock`.
public final class LocalBlobStore: BlobStore {
    public let root: URL
    private let rootPath: String

    /// A store rooted at `root`. Nothing is created until the first write (the directory, then `.tmp`
    /// inside it), so opening a mistyped path for reading leaves no trace.
    public init(root: URL) throws {
        self.root = root.standardizedFileURL
        rootPath = self.root.path
    }

    public var displayName: String { "file://\(rootPath)" }

    private func path(_ key: ObjectKey) -> String { rootPath + "/" + key.rawValue }

    public func put(_ key: ObjectKey, _ bytes: [UInt8], condition: WriteCondition) async throws -> String {
        let target = path(key)
        let root = rootPath
        return try await BlockingIO.run {
            if condition == .none { return try LocalBlobStore.atomicWrite(bytes, to: target, root: root) }
            return try LocalBlobStore.withStoreLock(root: root) {
                let current = LocalBlobStore.etag(atPath: target)
                switch condition {
                case .none: break
                case .ifAbsent: if current != nil { throw BlobStoreError.preconditionFailed(key) }
                case .ifMatch(let tag): if current != tag { throw BlobStoreError.preconditionFailed(key) }
                }
                return try LocalBlobStore.atomicWrite(bytes, to: target, root: root)
            }
        }
    }

    public func read(_ key: ObjectKey, range: ByteRange?) async throws -> Blob {
        let p = path(key)
        return try await BlockingIO.run {
            let fd = open(p, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                if errno == ENOENT || errno == ENOTDIR { throw BlobStoreError.notFound(key) }
                throw LocalBlobStore.failure("cannot open", p)
            }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw LocalBlobStore.failure("cannot stat", p) }
            let size = Int(st.st_size)
            var offset = 0
            var length = size
            if let range {
                guard range.offset < size || (range.offset == 0 && size == 0) else { throw BlobStoreError.invalidRange(key, range) }
                offset = range.offset
                length = min(size - offset, range.length ?? Int.max)
            }
            var out = [UInt8](repeating: 0, count: length)
            let done: Int
            do { done = try out.withUnsafeMutableBytes { b in try FileIO.readFull(fd, into: b, at: offset) } } catch {
                throw LocalBlobStore.failure("cannot read", p, error: error)
            }
            if done < length { throw BlobStoreError.transient("\(key) shrank while reading") }
            // Writes replace the file (rename), so the open file's identity is the version read.
            return Blob(bytes: out, etag: LocalBlobStore.etag(st))
        }
    }

    public func head(_ key: ObjectKey) async throws -> ObjectInfo? {
        let p = path(key)
        return try await BlockingIO.run {
            var st = stat()
            guard stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
            return ObjectInfo(key: key, size: Int(st.st_size), etag: LocalBlobStore.etag(st),
                              lastModified: Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec)))
        }
    }

    public func list(prefix: String, continuation: String?) async throws -> ListPage {
        let root = rootPath
        return try await BlockingIO.run {
            // Walk only the deepest directory the prefix names.
            let dirPart = prefix.lastIndex(of: "/").map { String(prefix[..<$0]) } ?? ""
            var found: [ObjectInfo] = []
            LocalBlobStore.walk(root: root, relative: dirPart) { rel, st in
                guard rel.hasPrefix(prefix), continuation == nil || rel > continuation!,
                      let key = try? ObjectKey(rel) else { return }
                found.append(ObjectInfo(key: key, size: Int(st.st_size), etag: LocalBlobStore.etag(st),
                                        lastModified: Date(timeIntervalSince1970: TimeInterval(st.st_mtim.tv_sec))))
            }
            found.sort { $0.key < $1.key }
            return ListPage(objects: found, continuation: nil)
        }
    }

    public func delete(_ keys: [ObjectKey]) async throws {
        let paths = keys.map(path)
        try await BlockingIO.run {
            for p in paths where unlink(p) != 0 && errno != ENOENT {
                throw LocalBlobStore.failure("cannot delete", p)
            }
        }
    }

    // MARK: - Helpers (blocking; called on the I/O pool)

    static func etag(_ st: stat) -> String {
        "\"\(String(UInt64(st.st_ino), radix: 16))-\(String(st.st_mtim.tv_sec, radix: 16)).\(String(st.st_mtim.tv_nsec, radix: 16))-\(String(st.st_size, radix: 16))\""
    }

    static func etag(atPath p: String) -> String? {
        var st = stat()
        guard stat(p, &st) == 0 else { return nil }
        return etag(st)
    }

    static func atomicWrite(_ bytes: [UInt8], to target: String, root: String) throws -> String {
        let tmp = root + "/.tmp/\(UInt64.random(in: 0...UInt64.max))"
        var fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 && errno == ENOENT {
            // The store's first write: create the directory and its .tmp.
            if mkdirAll(root + "/.tmp") != 0 { throw failure("cannot create", root + "/.tmp") }
            fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        }
        guard fd >= 0 else { throw failure("cannot create a temporary file in", root + "/.tmp") }
        var ok = false
        defer { if !ok { unlink(tmp) } }
        do {
            defer { close(fd) }
            do { try bytes.withUnsafeBytes { b in try FileIO.writeAll(fd, b) } } catch {
                throw failure("cannot write", tmp, error: error)
            }
            guard fsync(fd) == 0 else { throw failure("cannot fsync", tmp) }
        }
        let dir = String(target[..<target.lastIndex(of: "/")!])
        if mkdirAll(dir) != 0 { throw failure("cannot create", dir) }
        guard rename(tmp, target) == 0 else { throw failure("cannot rename a temporary file to", target) }
        ok = true
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 { fsync(dfd); close(dfd) }
        return etag(atPath: target) ?? "\"\""
    }

    /// The error for a failed system call on `path` (`errno`, or the `FileIO` error given): permission,
    /// read-only or full file systems and wrong file types are permanent (retrying cannot help and must not
    /// look like an outage); anything else (EIO, EINTR, running out of descriptors…) may pass.
    static func failure(_ what: String, _ path: String, error: (any Error)? = nil) -> BlobStoreError {
        let code = (error as? FileIO.Failure)?.code ?? errno
        let message = "\(what) \(path): \(error.map { "\($0)" } ?? String(cString: strerror(code)))"
        switch code {
        case EACCES, EPERM, EROFS, ENOSPC, EDQUOT, ENOTDIR, EISDIR, ELOOP, ENAMETOOLONG, EINVAL, EFBIG:
            return .permanent(message)
        default:
            return .transient(message)
        }
    }

    static func mkdirAll(_ dir: String) -> Int32 {
        var st = stat()
        if stat(dir, &st) == 0 { return 0 }
        let parent = String(dir[..<(dir.lastIndex(of: "/") ?? dir.startIndex)])
        if !parent.isEmpty, mkdirAll(parent) != 0 { return -1 }
        if mkdir(dir, 0o755) != 0 && errno != EEXIST { return -1 }
        return 0
    }

    static func withStoreLock<T>(root: String, _ body: () throws -> T) throws -> T {
        if mkdirAll(root) != 0 { throw failure("cannot create", root) }
        let fd = open(root + "/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot open the store lock", root + "/.lock") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw failure("cannot lock", root + "/.lock") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }

    /// Depth-first walk of regular files under `root/relative`, skipping dot-entries at the root.
    static func walk(root: String, relative: String, _ visit: (String, stat) -> Void) {
        let dirPath = relative.isEmpty ? root : root + "/" + relative
        guard let dir = opendir(dirPath) else { return }
        defer { closedir(dir) }
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." || (relative.isEmpty && name.hasPrefix(".")) { continue }
            let rel = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(root + "/" + rel, &st) == 0 else { continue }
            if (st.st_mode & S_IFMT) == S_IFDIR { walk(root: root, relative: rel, visit) }
            else if (st.st_mode & S_IFMT) == S_IFREG { visit(rel, st) }
        }
    }
}
