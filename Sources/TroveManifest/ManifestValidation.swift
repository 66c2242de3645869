import TroveContent

/// Hard limits on what a manifest may declare. A manifest is input: anyone who can run a build can
/// store one (a valid SQLite file stored under its own digest passes the digest check), so nothing it
/// says is used before it is checked against these bounds (docs/storage-format.md, "Reading untrusted
/// manifests").
public enum ManifestLimits {
    /// Largest decompressed manifest (SQLite file) a reader accepts: 256 MiB, about 4 million chunk
    /// rows, fifty times the largest docs build measured. Decompression stops here whatever the zstd
    /// frame declares, so a crafted frame cannot make a reader allocate gigabytes.
    public static let maxManifestBytes = 256 << 20
    /// Largest raw chunk: the chunker's own ceiling (`ChunkerParameters.validate`, 64 MiB).
    public static let maxChunkBytes = 64 << 20
    /// Pack offsets and ends beyond 1 TiB are not something publish or compaction writes.
    public static let maxPackBytes = 1 << 40
    /// Largest file a manifest may declare (1 PiB): keeps sums of sizes far from overflow.
    public static let maxFileBytes = 1 << 50
}

/// The one home of path syntax for paths read from a manifest: export, serve and verify all rely on
/// these rules, so a crafted manifest cannot name a file outside the tree it describes.
public enum ManifestPath {
    /// Why `path` is not a safe relative path, or nil when it is: non-empty `/`-separated segments,
    /// none empty, `.` or `..`, no leading `/`, no NUL or other control character. (Length is left to
    /// the file system: a name too long to create is an error there, not an escape.)
    public static func problem(_ path: String) -> String? {
        let bytes = Array(path.utf8)
        if bytes.isEmpty { return "empty path" }
        if bytes[0] == UInt8(ascii: "/") { return "absolute path" }
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "control character in path" }
        for seg in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            if seg.isEmpty { return "empty path segment" }
            if seg.elementsEqual([UInt8(ascii: ".")]) || seg.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                return "'.' or '..' path segment"
            }
        }
        return nil
    }

    /// The segments of a path that passed `problem`.
    public static func segments(_ path: String) -> [Substring] {
        path.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// Where a symlink at `link` pointing to `target` leads, resolved lexically from the link's
    /// directory: the path inside the tree ("" for its root), or nil when the target is absolute,
    /// empty, holds a control character, or climbs above the root with `..`. The same rule publish
    /// applies when it stores a link and serve applies when it follows one.
    public static func resolve(link: String, target: String) -> String? {
        let bytes = target.utf8
        guard !bytes.isEmpty, bytes.first != UInt8(ascii: "/"),
              !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { return nil }
        var parts = link.split(separator: "/").dropLast().map(String.init)
        for seg in target.split(separator: "/") {
            if seg == "." { continue }
            if seg == ".." {
                guard !parts.isEmpty else { return nil }
                parts.removeLast()
            } else {
                parts.append(String(seg))
            }
        }
        return parts.joined(separator: "/")
    }

    /// Whether a symlink at `link` to `target` leaves the tree when followed as a file system does:
    /// component by component, following the tree's own `links` (path → target) met on the way. A
    /// loop goes nowhere, so it does not leave; an absolute or empty target, or a step above the root,
    /// does, however many links it takes (more than a file system would follow is still refused: the
    /// rule must not depend on a kernel's limit). Linear in the targets' lengths (links are resolved
    /// once each, through a trie of their paths, without recursion), so a hostile manifest or build
    /// tree cannot make it quadratic or exhaust the stack.
    public static func leavesTree(link: String, target: String, through links: [String: String]) -> Bool {
        LinkResolver(links).leaves(link, target)
    }

    /// The links of a tree (path → target) that leave it when followed (`leavesTree` for each, with
    /// one resolver). Publish refuses these when it walks a build tree; readers refuse a manifest
    /// holding one. The one rule for both.
    public static func linksLeavingTree(_ links: [String: String]) -> Set<String> {
        let resolver = LinkResolver(links)
        return Set(links.filter { resolver.leaves($0.key, $0.value) }.keys)
    }
}

/// The tree's symlinks as a trie of their paths; each link resolved at most once.
final class LinkResolver {
    final class Node {
        var children: [Substring: Node] = [:]
        var target: String?
        var state: State = .unresolved
    }
    /// `nowhere`: the link's resolution needs its own (a loop), so it never ends.
    enum State { case unresolved, resolving, inside([Node?]), outside, nowhere }
    let root = Node()

    init(_ links: [String: String]) {
        for (path, target) in links {
            var n = root
            for seg in path.split(separator: "/") {
                if let c = n.children[seg] { n = c } else { let c = Node(); n.children[seg] = c; n = c }
            }
            n.target = target
        }
    }

    /// The nodes of a link's parent directories (every one is in the trie: the link's path put it there).
    func parents(_ path: String) -> [Node?] {
        var out: [Node?] = []
        var n: Node? = root
        for seg in path.split(separator: "/").dropLast() {
            n = n?.children[seg]
            out.append(n)
        }
        return out
    }

    func leaves(_ link: String, _ target: String) -> Bool {
        if case .outside = resolve(parents(link), target) { return true }
        return false
    }

    static func acceptable(_ target: String) -> Bool {
        let bytes = target.utf8
        return !bytes.isEmpty && bytes.first != UInt8(ascii: "/") && !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F })
    }

    /// One target being followed: the link it belongs to (nil for the one asked about), the directory
    /// reached so far (a stack of trie nodes, nil where a component is not on any link's path), and
    /// the segments left.
    struct Frame {
        var node: Node?
        var stack: [Node?]
        var segments: [Substring]
        var next = 0
    }

    /// Follows `target` from the directory `base`. Links met on the way are resolved on an explicit
    /// stack of frames, not by recursion, and remembered in their nodes (each where it leads, or that
    /// it leaves or loops), which are the same wherever they are met from.
    func resolve(_ base: [Node?], _ target: String) -> State {
        guard LinkResolver.acceptable(target) else { return .outside }
        var frames = [Frame(node: nil, stack: base, segments: target.split(separator: "/"))]
        var finished: State? = nil // the outcome of the frame just popped, for the one under it
        while var f = frames.popLast() {
            if let outcome = finished {
                finished = nil
                guard case .inside(let resolved) = outcome else {
                    f.node?.state = outcome // leaving or looping through a link is this link's fate too
                    finished = outcome
                    continue
                }
                f.stack = resolved
            }
            var outcome: State? = nil
            var child: Frame? = nil
            while outcome == nil, child == nil, f.next < f.segments.count {
                let seg = f.segments[f.next]
                f.next += 1
                if seg == "." { continue }
                if seg == ".." {
                    if f.stack.isEmpty { outcome = .outside } else { f.stack.removeLast() }
                    continue
                }
                let parent: Node? = f.stack.isEmpty ? root : f.stack[f.stack.count - 1]
                guard let node = parent?.children[seg], let next = node.target else {
                    f.stack.append(parent?.children[seg])
                    continue
                }
                switch node.state {
                case .inside(let resolved): f.stack = resolved
                case .outside: outcome = .outside
                case .nowhere, .resolving: outcome = .nowhere
                case .unresolved:
                    if LinkResolver.acceptable(next) {
                        node.state = .resolving
                        child = Frame(node: node, stack: f.stack, segments: next.split(separator: "/"))
                    } else {
                        node.state = .outside
                        outcome = .outside
                    }
                }
            }
            if let child {
                frames.append(f)
                frames.append(child)
                continue
            }
            let result = outcome ?? .inside(f.stack)
            f.node?.state = result
            finished = result
        }
        return finished ?? .outside
    }
}

extension Manifest {
    /// Checks one `files` row; throws naming the manifest, the row and the rule.
    func check(_ r: FileRecord) throws {
        func bad(_ why: String) -> ManifestError {
            .malformed("manifest \(digest.hex): files row \(r.id) (\(r.path.debugDescription)): \(why)")
        }
        if let p = ManifestPath.problem(r.path) { throw bad(p) }
        guard r.size >= 0, r.size <= ManifestLimits.maxFileBytes else { throw bad("size \(r.size) out of range") }
        guard r.mode >= 0, r.mode <= 0o7777 else { throw bad("mode \(r.mode) is not a permission mode") }
        switch r.kind {
        case .file:
            guard r.digest != nil else { throw bad("file without a digest") }
        case .symlink:
            guard r.mainContentDigest == nil else { throw bad("main-content digest on a symlink") }
            guard let t = r.linkTarget, ManifestPath.resolve(link: r.path, target: t) != nil else {
                throw bad("symlink target \((r.linkTarget ?? "").debugDescription) is empty, absolute or leaves the tree")
            }
        case .dir:
            guard r.mainContentDigest == nil else { throw bad("main-content digest on a directory") }
        }
    }

    /// Checks one chunk row's location: codec known, sizes and offsets in range, a dictionary where the
    /// codec needs one.
    func check(chunk d: Digest, _ l: ChunkLocation) throws {
        func bad(_ why: String) -> ManifestError {
            .malformed("manifest \(digest.hex): chunk \(d.hex): \(why)")
        }
        guard l.rawSize >= 1, l.rawSize <= ManifestLimits.maxChunkBytes else { throw bad("raw size \(l.rawSize) out of range") }
        let most = l.codec == .raw ? l.rawSize : ZstdCompressor.bound(l.rawSize)
        guard l.storedSize >= 1, l.storedSize <= most else { throw bad("stored size \(l.storedSize) out of range for raw size \(l.rawSize) (\(l.codec))") }
        guard l.offset >= 0, l.offset <= ManifestLimits.maxPackBytes - l.storedSize else { throw bad("pack offset \(l.offset) out of range") }
        if l.codec == .zstdDictionary, l.dictionary == nil { throw bad("zstd+dict chunk without a dictionary") }
    }

    /// Checks a whole tree's shape, given every entry in path order: paths unique, every entry's
    /// parent (when listed) a directory, so no file is ever written through a symlink or a file, and
    /// every symlink, followed through the tree's other links as a file system would, stays inside it
    /// (`a/b -> ..` then `s -> a/b/a/b/../../../etc` is lexically inside, and out on disk).
    public func checkStructure(_ entries: [FileRecord]) throws {
        var kinds: [String: EntryKind] = [:]
        var links: [String: String] = [:]
        kinds.reserveCapacity(entries.count)
        for e in entries {
            guard kinds.updateValue(e.kind, forKey: e.path) == nil else {
                throw ManifestError.malformed("manifest \(digest.hex): path \(e.path.debugDescription) listed twice")
            }
            if e.kind == .symlink, let t = e.linkTarget { links[e.path] = t }
        }
        if let link = ManifestPath.linksLeavingTree(links).min(), let target = links[link] {
            throw ManifestError.malformed("manifest \(digest.hex): symlink \(link.debugDescription) -> \(target.debugDescription) leads out of the tree through other links")
        }
        for e in entries {
            var parent = e.path[...]
            while let slash = parent.lastIndex(of: "/") {
                parent = parent[..<slash]
                if let k = kinds[String(parent)] {
                    guard k == .dir else {
                        throw ManifestError.malformed("manifest \(digest.hex): \(e.path.debugDescription) lies under the \(k.rawValue) \(String(parent).debugDescription)")
                    }
                    break // its own parents were checked when it was
                }
            }
        }
    }

    /// Reads and checks everything: every row against its rules, the tree's shape, and every file's
    /// chunk list against its size and digest. For `trove verify --deep`.
    public func validate() throws {
        let entries = try list()
        try checkStructure(entries)
        for e in entries where e.kind == .file { _ = try chunks(of: e) }
        try forEachChunk { _, _ in }
    }
}
