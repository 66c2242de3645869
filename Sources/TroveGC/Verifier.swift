import Foundation
import Synchronization
import TroveContent
import TroveManifest
import TroveRepository
import TroveStorage

/// `trove verify [--deep]`: every blob reachable from live versions (current builds, kept history,
/// pinned aliases) exists; deep, every manifest, pack and dictionary hashes to its name, every
/// manifest passes SQLite's integrity check and every live chunk decodes to its digest.
public struct Verifier: Sendable {
    public let repository: Repository
    public var deep: Bool
    public var workDirectory: URL?

    public init(repository: Repository, deep: Bool = false, workDirectory: URL? = nil) {
        self.repository = repository
        self.deep = deep
        self.workDirectory = workDirectory
    }

    public struct Problem: Codable, Sendable, Equatable, CustomStringConvertible {
        public enum Kind: String, Codable, Sendable { case missing, corrupt }
        public var kind: Kind
        public var object: String
        public var detail: String
        public var usedBy: [String]
        public var description: String {
            "\(kind.rawValue) \(object): \(detail)" + (usedBy.isEmpty ? "" : " (used by \(usedBy.prefix(5).joined(separator: ", "))\(usedBy.count > 5 ? ", …" : ""))")
        }
    }

    public struct Report: Codable, Sendable {
        public var store: String
        public var deep: Bool
        public var versions = 0, builds = 0, manifests = 0, packs = 0, dictionaries = 0
        public var chunksChecked = 0, bytesChecked = 0
        public var problems: [Problem] = []
        public var seconds = 0.0
        public var ok: Bool { problems.isEmpty }
        enum CodingKeys: String, CodingKey { case store, deep, versions, builds, manifests, packs, dictionaries, chunksChecked, bytesChecked, problems, seconds, ok }
        public func encode(to e: any Encoder) throws {
            var c = e.container(keyedBy: CodingKeys.self)
            try c.encode(store, forKey: .store); try c.encode(deep, forKey: .deep); try c.encode(versions, forKey: .versions)
            try c.encode(builds, forKey: .builds); try c.encode(manifests, forKey: .manifests); try c.encode(packs, forKey: .packs)
            try c.encode(dictionaries, forKey: .dictionaries); try c.encode(chunksChecked, forKey: .chunksChecked)
            try c.encode(bytesChecked, forKey: .bytesChecked); try c.encode(problems, forKey: .problems)
            try c.encode(seconds, forKey: .seconds); try c.encode(ok, forKey: .ok)
        }
        public init(from d: any Decoder) throws {
            let c = try d.container(keyedBy: CodingKeys.self)
            store = try c.decode(String.self, forKey: .store)
            deep = try c.decode(Bool.self, forKey: .deep)
            problems = try c.decode([Problem].self, forKey: .problems)
        }
        init(store: String, deep: Bool) { self.store = store; self.deep = deep }
    }

    public func run() async throws -> Report {
        let clock = ContinuousClock.now
        let store = repository.store
        var report = Report(store: store.displayName, deep: deep)
        let work = workDirectory ?? FileManager.default.temporaryDirectory.appendingPathComponent("trove-verify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { if workDirectory == nil { try? FileManager.default.removeItem(at: work) } }
        let cache = try GCCache(directory: repository.cacheDirectory.appendingPathComponent("gc"))
        let marks = try MarkDatabase(directory: work)
        var deepDB: DeepChunks? = deep ? try DeepChunks(directory: work) : nil

        // Who uses each build, for messages.
        let roots = try await repository.readRoots(tolerateMalformed: true)
        report.versions = roots.versions.count
        // A ref that does not decode is a problem of its own; the other versions are still verified.
        for bad in roots.malformed {
            let project = (try? ObjectKey(bad.key)).flatMap { StoreLayout.refEntry($0) }.flatMap { if case .version(let p, _) = $0 { p } else { nil } }
            report.problems.append(Problem(kind: .corrupt, object: bad.key, detail: "malformed ref: \(bad.reason)",
                                           usedBy: project.map { ["\($0)/\(bad.version)"] } ?? []))
        }
        var users: [Digest: [String]] = [:]
        for v in roots.versions {
            users[v.ref.current.manifest, default: []].append("\(v.project)/\(v.version)")
            for (i, h) in v.ref.history.enumerated() { users[h.manifest, default: []].append("\(v.project)/\(v.version)~\(i + 1)") }
        }
        for (alias, d) in roots.aliasManifests { users[d, default: []].append("alias \(alias)") }
        report.builds = users.count

        // Manifests: exist (deep: hash to their name); summaries into the mark set.
        for d in roots.all {
            try Task.checkCancellation()
            let key = StoreLayout.manifest(d)
            let label = users[d] ?? []
            if deep {
                let bytes: [UInt8]
                do { bytes = try await store.get(key) } catch BlobStoreError.notFound {
                    report.problems.append(Problem(kind: .missing, object: key.rawValue, detail: "manifest is missing", usedBy: label)); continue
                }
                guard (try? ManifestCodec.decode(bytes, digest: d, name: key.rawValue)) != nil else {
                    report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "manifest does not decode to its name", usedBy: label)); continue
                }
            } else if try await store.head(key) == nil {
                report.problems.append(Problem(kind: .missing, object: key.rawValue, detail: "manifest is missing", usedBy: label)); continue
            }
            let m: Manifest
            do { m = try await repository.manifest(d) } catch {
                report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "\(error)", usedBy: label)); continue
            }
            report.manifests += 1
            if deep {
                let problems: [String]
                do { problems = try m.integrityProblems() } catch { problems = ["\(error)"] }
                if !problems.isEmpty {
                    report.problems.append(Problem(kind: .corrupt, object: key.rawValue,
                                                   detail: "SQLite integrity check: \(problems.prefix(3).joined(separator: "; "))", usedBy: label))
                    continue
                }
                // Every row within its rules, the tree's shape, every file's chunks = its size and digest.
                do { try m.validate() } catch {
                    report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "\(error)", usedBy: label))
                    continue
                }
            }
            let summary: ManifestSummary
            do {
                summary = try cache.summary(d) ?? {
                    let s = try ManifestSummary(manifest: m)
                    cache.store(s, for: d)
                    return s
                }()
            } catch let e as ManifestError {
                report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "\(e)", usedBy: label)); continue
            }
            try marks.mark(manifest: d, summary)
            if deepDB != nil { try deepDB!.add(m, marks: marks) }
        }
        try marks.checkpoint()

        func usersOf(packID: Int) throws -> [String] {
            try marks.manifestIDs(usingPack: packID).compactMap { try marks.manifestDigest(id: $0) }.flatMap { users[$0] ?? [$0.short] }
        }

        // Packs: exist and are long enough for every live chunk; deep: hash to their name, chunks decode.
        // Deep reads go through `ReadPlanner` (8 packs in flight), a batch of packs at a time so memory
        // stays bounded: each region is a whole pack (its hash needs every byte), decoded and released.
        var planner = ReadPlanner(repository: repository)
        planner.concurrency = 8
        let found = Mutex<(problems: [Problem], chunks: Int, bytes: Int)>(([], 0, 0))
        var batch: [(region: ReadPlanner.Region, users: [String])] = []
        func checkBatch() async throws {
            defer { batch.removeAll() }
            guard !batch.isEmpty else { return }
            let regions = batch.map(\.region)
            var users: [Digest: [String]] = [:]
            for b in batch { users[b.region.pack] = b.users }
            let dicts = await withTaskGroup(of: (Digest, ZstdDictionary?).self) { group in
                for d in Set(regions.flatMap { $0.chunks.compactMap(\.location.dictionary) }) {
                    group.addTask { (d, try? await repository.dictionary(d)) }
                }
                var out: [Digest: ZstdDictionary] = [:]
                for await (d, z) in group { if let z { out[d] = z } }
                return out
            }
            try await planner.read(regions) { [users] region, bytes in
                let key = StoreLayout.pack(region.pack)
                guard Digest.sha256(bytes) == region.pack else {
                    found.withLock { $0.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "pack does not hash to its name", usedBy: users[region.pack] ?? [])) }
                    return
                }
                var bad: [String] = []
                try ReadPlanner.decode(region, stored: bytes, dictionaries: dicts, onCorrupt: { _, e in bad.append("\(e)") }) { _, _ in }
                let n = region.chunks.count, stored = region.chunks.reduce(0) { $0 + $1.location.storedSize }
                found.withLock { f in
                    f.chunks += n
                    f.bytes += stored
                    if !bad.isEmpty {
                        f.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "\(bad.count) chunk(s) do not decode to their digest: \(bad[0])", usedBy: users[region.pack] ?? []))
                    }
                }
            }
        }
        for p in try marks.packLiveness() {
            try Task.checkCancellation()
            report.packs += 1
            let key = StoreLayout.pack(p.digest)
            guard let info = try await store.head(key) else {
                report.problems.append(Problem(kind: .missing, object: key.rawValue, detail: "pack is missing (\(p.liveChunks) live chunks)", usedBy: try usersOf(packID: p.id)))
                continue
            }
            let end = try marks.liveEntries(packID: p.id).map { $0.offset + $0.size }.max() ?? 0
            if end > info.size - PackWriter.footerSize {
                report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "pack is \(info.size) bytes, live chunks reach byte \(end)", usedBy: try usersOf(packID: p.id)))
                continue
            }
            guard let deepDB else { continue }
            batch.append((ReadPlanner.Region(pack: p.digest, offset: 0, length: info.size, chunks: try deepDB.chunks(packID: p.id)),
                          try usersOf(packID: p.id)))
            if batch.count >= 32 { try await checkBatch() }
        }
        try await checkBatch()
        found.withLock { f in
            report.problems += f.problems
            report.chunksChecked += f.chunks
            report.bytesChecked += f.bytes
        }

        // Dictionaries.
        for d in try marks.allDictionaries() {
            report.dictionaries += 1
            let key = StoreLayout.dictionary(d)
            if deep {
                do {
                    let bytes = try await store.get(key)
                    if Digest.sha256(bytes) != d { report.problems.append(Problem(kind: .corrupt, object: key.rawValue, detail: "dictionary does not hash to its name", usedBy: [])) }
                } catch BlobStoreError.notFound {
                    report.problems.append(Problem(kind: .missing, object: key.rawValue, detail: "dictionary is missing", usedBy: []))
                }
            } else if try await store.head(key) == nil {
                report.problems.append(Problem(kind: .missing, object: key.rawValue, detail: "dictionary is missing", usedBy: []))
            }
        }
        report.seconds = (ContinuousClock.now - clock).seconds
        return report
    }
}

/// Deep verification's per-chunk details (digest, codec, sizes), on disk, keyed by location.
struct DeepChunks {
    let db: SQLiteDatabase
    let path: String

    init(directory: URL) throws {
        path = directory.appendingPathComponent("deep-\(UUID().uuidString).sqlite").path
        db = try SQLiteDatabase(path: path, mode: .readWriteCreate)
        try db.execute("""
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -32768;
            CREATE TABLE c(pack_id INTEGER NOT NULL, offset INTEGER NOT NULL, stored INTEGER NOT NULL, raw INTEGER NOT NULL,
                           codec INTEGER NOT NULL, dict BLOB, digest BLOB NOT NULL, pack BLOB NOT NULL, PRIMARY KEY (pack_id, offset)) WITHOUT ROWID;
            """)
    }

    mutating func add(_ m: Manifest, marks: MarkDatabase) throws {
        let ins = try db.prepare("INSERT OR IGNORE INTO c(pack_id, offset, stored, raw, codec, dict, digest, pack) VALUES (?,?,?,?,?,?,?,?)")
        var ids: [Digest: Int] = [:]
        try db.execute("BEGIN")
        try m.forEachChunk { d, l in
            let pid: Int
            if let known = ids[l.pack] { pid = known } else {
                guard let id = try marks.packID(l.pack) else { return }
                ids[l.pack] = id
                pid = id
            }
            ins.bind(1, pid); ins.bind(2, l.offset); ins.bind(3, l.storedSize); ins.bind(4, l.rawSize)
            ins.bind(5, Int(l.codec.rawValue)); ins.bind(6, l.dictionary); ins.bind(7, d); ins.bind(8, l.pack)
            try ins.run()
        }
        try db.execute("COMMIT")
    }

    func chunks(packID: Int) throws -> [ChunkRef] {
        let s = try db.prepare("SELECT offset, stored, raw, codec, dict, digest, pack FROM c WHERE pack_id = ? ORDER BY offset")
        s.bind(1, packID)
        var out: [ChunkRef] = []
        while try s.step() {
            guard let codec = Codec(rawValue: UInt8(s.int(3))) else { continue }
            out.append(ChunkRef(digest: try s.digest(5), location: ChunkLocation(pack: try s.digest(6), offset: s.int(0), storedSize: s.int(1),
                                                                               rawSize: s.int(2), codec: codec, dictionary: try s.optionalDigest(4))))
        }
        return out
    }
}
