import Foundation
import Synchronization
import TroveContent
import TroveManifest
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// Writes a published build back out as a byte-identical tree (files, directories, symlinks, modes).
///
/// Reads go through `ReadPlanner`: every distinct chunk of the version is read once, pack region by
/// pack region (about one request per pack), and written at its offsets into each file that uses it, so
/// memory stays bounded whatever the size of the version. Every chunk is verified against its digest
/// and every file's chunk list against its size and digest (`Manifest.chunks(of:)`); a file is written
/// under a temporary name and renamed only once all its bytes are in.
///
/// The manifest is untrusted input: paths are checked (`ManifestPath`, `Manifest.checkStructure`), every
/// file and directory is created relative to directory descriptors of the destination opened with
/// `O_NOFOLLOW` (never through a symlink, even one placed there by someone else), symlinks are created
/// last, and modes are masked to 0777 (no setuid, setgid or sticky bits).
public struct Exporter: Sendable {
    public let repository: Repository
    /// Pack regions read at once (`ReadPlanner.concurrency`).
    public var concurrency = 8

    public init(repository: Repository) { self.repository = repository }

    public struct Result: Sendable, Codable {
        public var files = 0, directories = 0, symlinks = 0, bytes = 0
    }

    /// Where one distinct chunk's bytes go: a file (index into the files list) and an offset in it.
    struct Use: Sendable {
        var file: Int
        var offset: Int
    }

    public func export(_ manifest: Manifest, to destination: String) async throws -> Result {
        let entries = try manifest.list()
        try manifest.checkStructure(entries)
        let files = entries.filter { $0.kind == .file }
        var lists: [[ChunkRef]] = []
        lists.reserveCapacity(files.count)
        var uses: [Digest: [Use]] = [:]
        for (i, f) in files.enumerated() {
            let list = try manifest.chunks(of: f)
            var offset = 0
            for c in list {
                uses[c.digest, default: []].append(Use(file: i, offset: offset))
                offset += c.location.rawSize
            }
            lists.append(list)
        }
        var planner = ReadPlanner(repository: repository)
        planner.concurrency = concurrency
        let regions = planner.plan(lists.joined())
        lists = []

        let tree = try await BlockingIO.run { try ExportTree(destination: destination, files: files) }
        do {
            let dicts = try await planner.dictionaries(for: regions)
            try await BlockingIO.run {
                try tree.makeDirectories(entries.filter { $0.kind == .dir })
                try tree.createFiles()
            }
            try await planner.read(regions) { [uses] region, stored in
                try await BlockingIO.run {
                    let batch = ExportTree.Batch(tree)
                    defer { batch.close() }
                    var counts: [Int: Int] = [:]
                    try ReadPlanner.decode(region, stored: stored, dictionaries: dicts) { c, bytes in
                        for u in uses[c.digest] ?? [] {
                            try batch.write(file: u.file, bytes, at: u.offset)
                            counts[u.file, default: 0] += bytes.count
                        }
                    }
                    for i in tree.add(counts) { try batch.finish(file: i) }
                }
            }
            if let (i, n) = tree.incomplete() {
                throw RepositoryError.corrupt("\(files[i].path): \(n) of \(files[i].size) bytes written")
            }
            try await BlockingIO.run {
                try tree.makeSymlinks(entries.filter { $0.kind == .symlink })
                // Directory modes last: a read-only directory would otherwise block writing its files.
                try tree.setDirectoryModes(entries.filter { $0.kind == .dir })
            }
        } catch {
            _ = try? await BlockingIO.run { tree.removeTemporaryFiles() }
            throw error
        }
        var result = Result()
        result.files = files.count
        result.bytes = files.reduce(0) { $0 + $1.size }
        result.directories = entries.filter { $0.kind == .dir }.count
        result.symlinks = entries.filter { $0.kind == .symlink }.count
        return result
    }
}

/// The destination of an export, reached only through directory descriptors: every path component is
/// opened relative to its parent with `O_NOFOLLOW`, so a symlink anywhere below the destination (one
/// the export created, or one someone else put there) is an error, never followed.
final class ExportTree: Sendable {
    let destination: String
    let root: Int32
    /// Files of the export: parent directory, name, mode, size.
    let files: [(dir: String, name: String, mode: Int, size: Int)]
    /// Bytes written so far, by file.
    let written: Mutex<[Int]>
    /// Files renamed into place (their temporary names are gone).
    let finished: Mutex<Set<Int>>
    static let suffix = ".trove-tmp"

    init(destination: String, files: [FileRecord]) throws {
        self.destination = destination
        // (The destination is the user's own path: links in it are followed. When it cannot be
        // created, opening it says why in one line.)
        try? FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
        let fd = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ExportError.io(destination, String(cString: strerror(errno))) }
        root = fd
        self.files = files.map { f in
            let slash = f.path.lastIndex(of: "/")
            return (slash.map { String(f.path[..<$0]) } ?? "", slash.map { String(f.path[f.path.index(after: $0)...]) } ?? f.path, f.mode, f.size)
        }
        written = Mutex([Int](repeating: 0, count: files.count))
        finished = Mutex([])
    }

    /// Records bytes written by file; returns the files now complete.
    func add(_ counts: [Int: Int]) -> [Int] {
        written.withLock { w in
            counts.compactMap { i, n in
                w[i] += n
                return w[i] == files[i].size ? i : nil
            }
        }
    }

    /// A file whose bytes are not all in (index and bytes written), if any.
    func incomplete() -> (Int, Int)? {
        written.withLock { w in files.indices.first { w[$0] != files[$0].size }.map { ($0, w[$0]) } }
    }

    deinit { close(root) }

    func fail(_ path: String, _ errno: Int32 = Glibc.errno) -> ExportError {
        .io(path.isEmpty ? destination : destination + "/" + path, String(cString: strerror(errno)))
    }

    /// A new descriptor for directory `path` (relative, already checked by `ManifestPath`), creating
    /// missing components when `create`. Close it.
    func openDirectory(_ path: String, create: Bool) throws -> Int32 {
        var fd = dup(root)
        guard fd >= 0 else { throw fail("") }
        if path.isEmpty { return fd }
        var walked = ""
        for seg in ManifestPath.segments(path) {
            walked = walked.isEmpty ? String(seg) : walked + "/" + seg
            if create, mkdirat(fd, String(seg), 0o755) != 0, errno != EEXIST {
                let e = errno
                close(fd)
                throw fail(walked, e)
            }
            let next = openat(fd, String(seg), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let e = errno
            close(fd)
            guard next >= 0 else { throw fail(walked, e) }
            fd = next
        }
        return fd
    }

    func makeDirectories(_ dirs: [FileRecord]) throws {
        for d in dirs { close(try openDirectory(d.path, create: true)) }
    }

    /// Creates every file's temporary file (exclusively, never through a link); empty files are
    /// complete at once.
    func createFiles() throws {
        let batch = Batch(self)
        defer { batch.close() }
        for (i, f) in files.enumerated() {
            let parent = try batch.directory(f.dir, create: true)
            let fd = openat(parent, f.name + ExportTree.suffix, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw fail(join(f.dir, f.name)) }
            close(fd)
            if f.size == 0 { try batch.finish(file: i) }
        }
    }

    func makeSymlinks(_ links: [FileRecord]) throws {
        for l in links {
            let slash = l.path.lastIndex(of: "/")
            let dir = slash.map { String(l.path[..<$0]) } ?? ""
            let name = slash.map { String(l.path[l.path.index(after: $0)...]) } ?? l.path
            let parent = try openDirectory(dir, create: true)
            defer { close(parent) }
            guard symlinkat(l.linkTarget ?? "", parent, name) == 0 else { throw fail(l.path) }
        }
    }

    func setDirectoryModes(_ dirs: [FileRecord]) throws {
        for d in dirs.reversed() {
            let fd = try openDirectory(d.path, create: false)
            fchmod(fd, mode_t(d.mode & 0o777))
            close(fd)
        }
    }

    /// Best effort after a failure: no temporary file is left behind.
    func removeTemporaryFiles() {
        let done = finished.withLock { $0 }
        let batch = Batch(self)
        defer { batch.close() }
        for (i, f) in files.enumerated() where !done.contains(i) {
            if let parent = try? batch.directory(f.dir) { unlinkat(parent, f.name + ExportTree.suffix, 0) }
        }
    }

    func join(_ dir: String, _ name: String) -> String { dir.isEmpty ? name : dir + "/" + name }

    /// Directory and file descriptors opened for one region's writes, closed together.
    final class Batch {
        let tree: ExportTree
        var directories: [String: Int32] = [:]
        var open: [Int: Int32] = [:]

        init(_ tree: ExportTree) { self.tree = tree }

        func directory(_ path: String, create: Bool = false) throws -> Int32 {
            if let fd = directories[path] { return fd }
            if directories.count >= 64 { closeDirectories() }
            let fd = try tree.openDirectory(path, create: create)
            directories[path] = fd
            return fd
        }

        func file(_ i: Int) throws -> Int32 {
            if let fd = open[i] { return fd }
            let f = tree.files[i]
            let fd = openat(try directory(f.dir), f.name + ExportTree.suffix, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { throw tree.fail(tree.join(f.dir, f.name)) }
            open[i] = fd
            return fd
        }

        func write(file i: Int, _ bytes: [UInt8], at offset: Int) throws {
            let fd = try file(i)
            do { try bytes.withUnsafeBytes { try FileIO.writeAll(fd, $0, at: offset) } } catch {
                throw ExportError.io(tree.destination + "/" + tree.join(tree.files[i].dir, tree.files[i].name), "\(error)")
            }
        }

        /// All bytes of file `i` are in: its mode (masked to 0777) and its real name.
        func finish(file i: Int) throws {
            let f = tree.files[i]
            let fd = try file(i)
            fchmod(fd, mode_t(f.mode & 0o777))
            Glibc.close(fd)
            open[i] = nil
            let parent = try directory(f.dir)
            guard renameat(parent, f.name + ExportTree.suffix, parent, f.name) == 0 else { throw tree.fail(tree.join(f.dir, f.name)) }
            _ = tree.finished.withLock { $0.insert(i) }
        }

        func closeDirectories() {
            for fd in directories.values { Glibc.close(fd) }
            directories.removeAll()
        }

        func close() {
            for fd in open.values { Glibc.close(fd) }
            open.removeAll()
            closeDirectories()
        }
    }
}

public enum ExportError: Error, CustomStringConvertible {
    case io(String, String)
    public var description: String {
        switch self { case .io(let p, let m): "cannot write \(p): \(m)" }
    }
}
