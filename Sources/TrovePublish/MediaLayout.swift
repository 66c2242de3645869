import TroveManifest

/// How a build tree splits into independently published parts. In the Read the Docs layout (every
/// top-level entry is one of `html/ pdf/ epub/ htmlzip/ json/`) each media type publishes or fails on
/// its own; any other tree is one part that publishes whole or not at all.
struct MediaLayout {
    let isReadTheDocs: Bool
    let groups: Set<String>

    init(entries: [WalkEntry]) {
        let top = entries.filter { !$0.path.contains("/") }
        isReadTheDocs = !top.isEmpty && top.allSatisfy { $0.kind == .dir && Publisher.mediaTypes.contains($0.path) }
        groups = isReadTheDocs ? Set(top.map(\.path)) : [""]
    }

    /// The group a path belongs to ("" when the tree is not in the Read the Docs layout).
    func group(of path: String) -> String {
        guard isReadTheDocs else { return "" }
        return path.split(separator: "/", maxSplits: 1).first.map(String.init) ?? path
    }

    func summary(tree: some Sequence<FileRecord>, failed: Set<String>, carried: Set<String>, previous: Manifest?) -> [PublishReport.MediaType] {
        guard isReadTheDocs else {
            var files = 0, bytes = 0
            for r in tree where r.kind == .file { files += 1; bytes += r.size }
            return [.init(name: ".", status: failed.isEmpty ? .published : .failed, files: files, bytes: bytes)]
        }
        var names = groups.union(failed)
        // Which media types the previous build had: one indexed lookup each, not a scan of its files.
        if let previous {
            for m in Publisher.mediaTypes where ((try? previous.file(at: m)) ?? nil) != nil { names.insert(m) }
        }
        // Files and bytes per media type, in one pass over the tree (in path order, so a media type's
        // files come in one run: one lookup per run, not per file).
        var totals: [String: (files: Int, bytes: Int)] = [:]
        var run: (name: Substring, files: Int, bytes: Int)? = nil
        func flush() {
            guard let r = run, names.contains(String(r.name)) else { return }
            totals[String(r.name), default: (0, 0)].files += r.files
            totals[String(r.name), default: (0, 0)].bytes += r.bytes
        }
        for r in tree where r.kind == .file {
            guard let slash = r.path.utf8.firstIndex(of: UInt8(ascii: "/")) else { continue }
            let name = r.path[..<slash]
            if run?.name != name { flush(); run = (name, 0, 0) }
            run!.files += 1
            run!.bytes += r.size
        }
        flush()
        return names.sorted().map { name in
            let status: PublishReport.MediaStatus =
                carried.contains(name) ? .keptPrevious :
                failed.contains(name) ? .failed :
                groups.contains(name) ? .published : .removed
            let t = totals[name] ?? (0, 0)
            return .init(name: name, status: status, files: t.files, bytes: t.bytes)
        }
    }
}
