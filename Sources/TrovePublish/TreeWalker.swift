import Foundation
import TroveManifest
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// One path found in a build tree.
public struct WalkEntry: Sendable {
    public enum Kind: Sendable { case file, dir, symlink }
    /// Path relative to the root, `/`-separated.
    public var path: String
    public var kind: Kind
    public var size: Int
    public var mode: Int
    public var linkTarget: String?
}

/// A path that cannot be published, with the reason. Reported by path, never fatal to the walk.
public struct PathError: Error, Sendable, Codable, CustomStringConvertible {
    public var path: String
    public var reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }
}

/// Walks a build tree in a deterministic order (byte-wise sorted paths) without following symlinks.
///
/// Symlinks are stored as links when their target stays inside the tree, resolved against the tree
/// itself as a file system would (component by component, following the tree's other links,
/// `ManifestPath.linksLeavingTree`: the rule readers apply to a published version); links that leave
/// it (absolute, climbing out with `..`, or walking out through other links), sockets, FIFOs and
/// devices, and unreadable directories are reported as `PathError`s naming the path.
public enum TreeWalker {
    /// Throws a clear error unless `root` is a directory.
    public static func checkRoot(_ root: String) throws {
        var st = stat()
        guard stat(root, &st) == 0 else {
            throw PathError(path: root, reason: "cannot read build directory: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { throw PathError(path: root, reason: "not a directory") }
    }

    public static func walk(root: String) throws -> (entries: [WalkEntry], errors: [PathError]) {
        try checkRoot(root)
        var entries: [WalkEntry] = []
        var errors: [PathError] = []
        walkDir(root: root, rel: "", entries: &entries, errors: &errors)
        refuseLinksLeavingTree(&entries, &errors)
        return (entries, errors)
    }

    /// Like `walk`, with the root's subdirectories walked concurrently on the blocking-I/O pool (a Read
    /// the Docs build is a few large top-level folders). The same entries and errors in the same order.
    public static func walkConcurrently(root: String) async throws -> (entries: [WalkEntry], errors: [PathError]) {
        // The root's own entries, each with the errors found at it; directories are walked next.
        let top: [Segment] = try await BlockingIO.run {
            try checkRoot(root)
            var segments: [Segment] = []
            forEachName(root: root, rel: "", errors: { segments.append(Segment(errors: [$0])) }) { dfd, name, relPath in
                var s = Segment()
                s.isDir = visit(dfd: dfd, name: name, relPath: relPath, entries: &s.entries, errors: &s.errors)
                segments.append(s)
            }
            return segments
        }
        var segments = top
        try await withThrowingTaskGroup(of: (Int, [WalkEntry], [PathError]).self) { group in
            for (i, s) in top.enumerated() where s.isDir {
                let rel = s.entries[0].path
                group.addTask {
                    try await BlockingIO.run {
                        var entries: [WalkEntry] = [], errors: [PathError] = []
                        walkDir(root: root, rel: rel, entries: &entries, errors: &errors)
                        return (i, entries, errors)
                    }
                }
            }
            for try await (i, entries, errors) in group {
                segments[i].entries += entries
                segments[i].errors += errors
            }
        }
        var entries = segments.flatMap(\.entries), errors = segments.flatMap(\.errors)
        refuseLinksLeavingTree(&entries, &errors)
        return (entries, errors)
    }

    /// Moves the symlinks that leave the tree, resolved against the whole tree (links may lead through
    /// other top-level folders' links), from `entries` to `errors`, in walk order after the others.
    static func refuseLinksLeavingTree(_ entries: inout [WalkEntry], _ errors: inout [PathError]) {
        var links: [String: String] = [:]
        for e in entries where e.kind == .symlink { links[e.path] = e.linkTarget ?? "" }
        guard !links.isEmpty else { return }
        let leaving = ManifestPath.linksLeavingTree(links)
        guard !leaving.isEmpty else { return }
        for e in entries where e.kind == .symlink && leaving.contains(e.path) {
            let target = e.linkTarget ?? ""
            errors.append(PathError(path: e.path, reason: "symlink to \(target) \(why(link: e.path, target: target))"))
        }
        entries.removeAll { $0.kind == .symlink && leaving.contains($0.path) }
    }

    /// Why a link found leaving the tree does: the first rule it breaks.
    static func why(link: String, target: String) -> String {
        if target.isEmpty { return "is empty" }
        if target.hasPrefix("/") { return "is absolute and points outside the build tree" }
        if target.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "contains control characters" }
        if ManifestPath.resolve(link: link, target: target) == nil { return "escapes the build tree" }
        return "escapes the build tree through the symlinks it passes"
    }

    /// One entry of the root (or an error) and, for a directory, everything under it.
    struct Segment: Sendable {
        var entries: [WalkEntry] = []
        var errors: [PathError] = []
        var isDir = false
    }

    private static func walkDir(root: String, rel: String, entries: inout [WalkEntry], errors: inout [PathError]) {
        forEachName(root: root, rel: rel, errors: { errors.append($0) }) { dfd, name, relPath in
            if visit(dfd: dfd, name: name, relPath: relPath, entries: &entries, errors: &errors) {
                walkDir(root: root, rel: relPath, entries: &entries, errors: &errors)
            }
        }
    }

    /// Calls `body` for every name in directory `rel` (byte-wise sorted) with the directory's fd.
    private static func forEachName(root: String, rel: String, errors: (PathError) -> Void,
                                    _ body: (_ dfd: Int32, _ name: String, _ relPath: String) -> Void) {
        let dirPath = rel.isEmpty ? root : root + "/" + rel
        guard let dir = opendir(dirPath) else {
            errors(PathError(path: rel.isEmpty ? "." : rel, reason: "cannot read directory: \(String(cString: strerror(errno)))"))
            return
        }
        defer { closedir(dir) }
        let dfd = dirfd(dir)
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        names.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for name in names {
            body(dfd, name, rel.isEmpty ? name : rel + "/" + name)
        }
    }

    /// Records one name of a directory as an entry or an error; true when it is a directory to descend into.
    private static func visit(dfd: Int32, name: String, relPath: String, entries: inout [WalkEntry], errors: inout [PathError]) -> Bool {
        if name.utf8.contains(where: { $0 < 0x20 }) || name.unicodeScalars.contains("\u{FFFD}") {
            errors.append(PathError(path: relPath, reason: "file name contains control characters or invalid UTF-8"))
            return false
        }
        var st = stat()
        // Relative to the open directory: no path resolution from the root per entry.
        guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            errors.append(PathError(path: relPath, reason: "cannot stat: \(String(cString: strerror(errno)))"))
            return false
        }
        let mode = Int(st.st_mode & 0o7777)
        switch st.st_mode & S_IFMT {
        case S_IFREG:
            entries.append(WalkEntry(path: relPath, kind: .file, size: Int(st.st_size), mode: mode))
        case S_IFDIR:
            entries.append(WalkEntry(path: relPath, kind: .dir, size: 0, mode: mode))
            return true
        case S_IFLNK:
            var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlinkat(dfd, name, &buf, buf.count - 1)
            guard n >= 0 else {
                errors.append(PathError(path: relPath, reason: "cannot read symlink: \(String(cString: strerror(errno)))"))
                return false
            }
            let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // Whether it stays inside is decided once the whole tree is read (`refuseLinksLeavingTree`).
            entries.append(WalkEntry(path: relPath, kind: .symlink, size: target.utf8.count, mode: 0o777, linkTarget: target))
        case S_IFSOCK:
            errors.append(PathError(path: relPath, reason: "is a socket, not a file"))
        case S_IFIFO:
            errors.append(PathError(path: relPath, reason: "is a FIFO (named pipe), not a file"))
        case S_IFCHR, S_IFBLK:
            errors.append(PathError(path: relPath, reason: "is a device, not a file"))
        default:
            errors.append(PathError(path: relPath, reason: "is not a regular file, directory or symlink"))
        }
        return false
    }
}
