import Foundation

extension Manifest {
    /// Symlinks followed while resolving one path, in all (as a file system's `ELOOP` limit).
    public static let maxSymlinkHops = 8

    /// The entry a path names, following symlinks in every component the way a file system would, but
    /// only inside the version: relative targets only, never above its root, at most `maxSymlinkHops`
    /// links. nil when the path does not exist, leaves the version, passes through a file, or loops.
    /// The record returned carries its real path (the version root is `""`, a directory).
    /// `cat`, `serve` and `sign-url` all resolve paths here, so they agree on what a path names.
    public func resolve(_ path: String) throws -> FileRecord? {
        let parts = path.split(separator: "/").map(String.init)
        if parts.isEmpty { return Manifest.root }
        // The common case, one lookup: a path recorded as it is. The walker records nothing below a
        // symlink, so no component of a recorded path is a link.
        if !parts.contains(where: { $0 == "." || $0 == ".." }), let rec = try file(at: parts.joined(separator: "/")), rec.kind != .symlink {
            return rec
        }
        var pending = ArraySlice(parts)
        var stack: [FileRecord] = [] // the resolved components, each a directory but maybe the last
        var hops = 0
        while let part = pending.first {
            pending = pending.dropFirst()
            if part == "." { continue }
            if part == ".." {
                guard !stack.isEmpty else { return nil }
                stack.removeLast()
                continue
            }
            guard stack.last.map({ $0.kind == .dir }) ?? true else { return nil }
            let candidate = stack.isEmpty ? part : stack[stack.count - 1].path + "/" + part
            guard let rec = try file(at: candidate) else { return nil }
            if rec.kind == .symlink {
                hops += 1
                guard hops <= Manifest.maxSymlinkHops, let target = rec.linkTarget, !target.isEmpty, !target.hasPrefix("/") else { return nil }
                pending = ArraySlice(target.split(separator: "/").map(String.init)) + pending
                continue
            }
            stack.append(rec)
        }
        return stack.last ?? Manifest.root
    }

    static let root = FileRecord(path: "", kind: .dir, size: 0, mode: 0o755, contentType: nil, digest: nil, linkTarget: nil)
}
