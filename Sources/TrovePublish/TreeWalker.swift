import Foundation
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
/// Symlinks are stored as links when their target stays inside the tree; links that escape it
/// (absolute, or climbing out with `..`), sockets, FIFOs and devices, and unreadable directories
/// are reported as `PathError`s naming the path.
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
        return (entries, errors)
    }

    private static func walkDir(root: String, rel: String, entries: inout [WalkEntry], errors: inout [PathError]) {
        let dirPath = rel.isEmpty ? root : root + "/" + rel
        guard let dir = opendir(dirPath) else {
            errors.append(PathError(path: rel.isEmpty ? "." : rel, reason: "cannot read directory: \(String(cString: strerror(errno)))"))
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
            let relPath = rel.isEmpty ? name : rel + "/" + name
            if name.utf8.contains(where: { $0 < 0x20 }) || name.contains("\u{FFFD}") {
                errors.append(PathError(path: relPath, reason: "file name contains control characters or invalid UTF-8"))
                continue
            }
            var st = stat()
            // Relative to the open directory: no path resolution from the root per entry.
            guard fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
                errors.append(PathError(path: relPath, reason: "cannot stat: \(String(cString: strerror(errno)))"))
                continue
            }
            let mode = Int(st.st_mode & 0o7777)
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                entries.append(WalkEntry(path: relPath, kind: .file, size: Int(st.st_size), mode: mode))
            case S_IFDIR:
                entries.append(WalkEntry(path: relPath, kind: .dir, size: 0, mode: mode))
                walkDir(root: root, rel: relPath, entries: &entries, errors: &errors)
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(dfd, name, &buf, buf.count - 1)
                guard n >= 0 else {
                    errors.append(PathError(path: relPath, reason: "cannot read symlink: \(String(cString: strerror(errno)))"))
                    continue
                }
                let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if let why = escapes(link: relPath, target: target) {
                    errors.append(PathError(path: relPath, reason: "symlink to \(target) \(why)"))
                } else {
                    entries.append(WalkEntry(path: relPath, kind: .symlink, size: target.utf8.count, mode: 0o777, linkTarget: target))
                }
            case S_IFSOCK:
                errors.append(PathError(path: relPath, reason: "is a socket, not a file"))
            case S_IFIFO:
                errors.append(PathError(path: relPath, reason: "is a FIFO (named pipe), not a file"))
            case S_IFCHR, S_IFBLK:
                errors.append(PathError(path: relPath, reason: "is a device, not a file"))
            default:
                errors.append(PathError(path: relPath, reason: "is not a regular file, directory or symlink"))
            }
        }
    }

    /// Why a symlink's target leaves the tree, or nil when it stays inside (checked lexically).
    static func escapes(link: String, target: String) -> String? {
        if target.isEmpty { return "is empty" }
        if target.hasPrefix("/") { return "is absolute and points outside the build tree" }
        var parts = link.split(separator: "/").dropLast().map(String.init)
        for p in target.split(separator: "/", omittingEmptySubsequences: true) {
            if p == "." { continue }
            if p == ".." {
                if parts.isEmpty { return "escapes the build tree" }
                parts.removeLast()
            } else {
                parts.append(String(p))
            }
        }
        return nil
    }
}
