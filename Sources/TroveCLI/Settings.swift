import CYaml
import Foundation
import TroveContent
import TroveRepository
import TroveServe
import TroveStorage
import Yams

/// Every setting, from its three sources: command-line flags, `TROVE_*` environment variables and the
/// config file (`--config`, `$TROVE_CONFIG`, `~/.config/trove/config.yaml`, `/etc/trove/config.yaml`),
/// highest first, then defaults.
///
/// One parser (`Settings.parse`, over `SettingValue`) checks a value whatever its source, so
/// `--jobs abc`, `TROVE_PUBLISH_JOBS=abc` and `publish.jobs: abc` fail alike (exit 64, naming where the
/// value came from). The file and the variables are checked as a whole when a command starts, so a bad
/// value stops every command, not only the one that reads it.
struct Settings {
    /// What one key accepts, and the flag that overrides it (if any).
    struct Spec {
        var kind: SettingKind
        var flag: String? = nil
    }

    /// Every key the file and the variables may set. Dotted keys are nested YAML maps.
    static let schema: [String: Spec] = [
        "store": Spec(kind: .string, flag: "--store"),
        "cache_dir": Spec(kind: .string, flag: "--cache-dir"),
        "publish.jobs": Spec(kind: .integer(1...1024), flag: "--jobs"),
        "publish.uploads": Spec(kind: .integer(1...1024)),
        "publish.pack_size": Spec(kind: .size(64 << 10...1 << 30), flag: "--pack-size"),
        "publish.chunk_min": Spec(kind: .size(64...64 << 20)),
        "publish.chunk_avg": Spec(kind: .size(64...64 << 20)),
        "publish.chunk_max": Spec(kind: .size(64...64 << 20)),
        "publish.dictionary": Spec(kind: .bool),
        "publish.index_versions": Spec(kind: .integer(0...10_000)),
        "publish.zip_aware": Spec(kind: .bool),
        "publish.main_content": Spec(kind: .bool),
        "publish.main_content_selectors": Spec(kind: .selectors, flag: "--main-content-selectors"),
        "s3.endpoint": Spec(kind: .string), "s3.region": Spec(kind: .string), "s3.path_style": Spec(kind: .bool),
        "s3.max_connections": Spec(kind: .integer(1...1024)),
        "s3.access_key_id": Spec(kind: .string), "s3.secret_access_key": Spec(kind: .string), "s3.session_token": Spec(kind: .string),
        "azure.account": Spec(kind: .string), "azure.endpoint": Spec(kind: .string),
        "azure.max_connections": Spec(kind: .integer(1...1024)), "azure.stall_timeout": Spec(kind: .integer(1...3600)),
        "azure.list_page_size": Spec(kind: .integer(1...5000)), "azure.account_key": Spec(kind: .string),
        "azure.sas_token": Spec(kind: .string), "azure.connection_string": Spec(kind: .string),
        "retry.max_attempts": Spec(kind: .integer(1...10_000)),
        "retry.timeout": Spec(kind: .duration(.milliseconds(1)...SettingValue.maxDuration)),
        "serve.listen": Spec(kind: .string, flag: "--listen"),
        "serve.cache_control": Spec(kind: .string),
        "serve.ref_ttl": Spec(kind: .duration(.zero...SettingValue.maxDuration), flag: "--ref-ttl"),
        "serve.cache_bytes": Spec(kind: .size(0...1 << 40), flag: "--cache-bytes"),
        "serve.signing_key": Spec(kind: .string), "serve.tokens": Spec(kind: .string),
        "serve.private_projects": Spec(kind: .projectNames),
        "serve.default_versions": Spec(kind: .projectVersions),
        "serve.idle_timeout": Spec(kind: .duration(.seconds(1)...SettingValue.maxDuration)),
        "serve.access_log": Spec(kind: .bool), "serve.fast_path": Spec(kind: .bool),
        "serve.file_cache_dir": Spec(kind: .string), "serve.file_cache_bytes": Spec(kind: .size(0...1 << 50)),
        "serve.file_cache_threshold": Spec(kind: .size(0...1 << 40)),
        "serve.base_url": Spec(kind: .string, flag: "--base-url"),
        "serve.auth_url": Spec(kind: .httpURL), "serve.auth_headers": Spec(kind: .headerNames),
        "serve.auth_denied": Spec(kind: .oneOf(ExternalAuthorization.Denial.allCases.map(\.rawValue))),
        "serve.auth_ttl": Spec(kind: .duration(.zero...SettingValue.maxDuration)),
        "serve.auth_cache_entries": Spec(kind: .integer(1...10_000_000)),
        "serve.auth_timeout": Spec(kind: .duration(.milliseconds(10)...Duration.seconds(600))),
        "gc.grace": Spec(kind: .duration(.zero...SettingValue.maxDuration), flag: "--grace"),
        "gc.keep_builds": Spec(kind: .integer(1...100_000), flag: "--keep-builds"),
        "gc.keep_within": Spec(kind: .duration(.zero...SettingValue.maxDuration), flag: "--keep-within"),
    ]

    /// Sections whose keys are handed to the store backends as `StoreSettings` (docs/s3.md, docs/azure.md).
    static let backendSections = ["s3", "azure"]

    /// The largest config file read. Trove's keys fit in a few KiB; a bigger file is a mistake or an attack.
    static let maxFileBytes = 64 << 10

    /// Where a value came from, as messages name it.
    enum Source: CustomStringConvertible {
        case flag(String)
        case variable(String)
        case file(path: String, key: String)
        /// A built-in default, described (`the default store`).
        case fallback(String)

        var description: String {
            switch self {
            case .fallback(let what): what
            case .flag(let f): f
            case .variable(let v): v
            case .file(let path, let key): "\(path): key '\(key)'"
            }
        }
    }

    /// Values from the config file, as written (scalars; lists joined with commas).
    private(set) var fileValues: [String: String] = [:]
    private(set) var fileSource: String?
    let environment: [String: String]

    /// Loads the config file and checks it and every `TROVE_*` variable for a known key.
    init(explicitPath: String?, environment: [String: String]) throws {
        self.environment = environment
        let home = environment["HOME"] ?? NSHomeDirectory()
        let candidates: [String]
        if let p = explicitPath ?? environment["TROVE_CONFIG"] {
            guard FileManager.default.fileExists(atPath: p) else { throw CLIError.config("config file \(Output.safe(p)) does not exist") }
            candidates = [p]
        } else {
            candidates = [(environment["XDG_CONFIG_HOME"] ?? home + "/.config") + "/trove/config.yaml", "/etc/trove/config.yaml"]
        }
        if let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            fileValues = try Settings.parseFile(try Settings.readFile(path), source: path)
            fileSource = path
        }
        for key in Settings.schema.keys {
            if let v = environment[Settings.variable(key)] { _ = try Settings.parse(v, key: key, from: .variable(Settings.variable(key))) }
        }
    }

    /// `publish.pack_size` → `TROVE_PUBLISH_PACK_SIZE`.
    static func variable(_ key: String) -> String {
        "TROVE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// The raw value of `key` and its source: `flag` when given, else the variable, else the file.
    func lookup(_ key: String, flag: String? = nil) -> (value: String, source: Source)? {
        if let flag { return (flag, .flag(Settings.schema[key]?.flag ?? key)) }
        if let v = environment[Settings.variable(key)] { return (v, .variable(Settings.variable(key))) }
        if let v = fileValues[key], let f = fileSource { return (v, .file(path: f, key: key)) }
        return nil
    }

    /// The parsed value of `key`, or nil when no source sets it.
    func value(_ key: String, flag: String? = nil) throws -> ParsedSetting? {
        guard let (raw, source) = lookup(key, flag: flag) else { return nil }
        return try Settings.parse(raw, key: key, from: source)
    }

    func string(_ key: String, flag: String? = nil) -> String? { lookup(key, flag: flag)?.value }

    func integer(_ key: String, flag: String? = nil) throws -> Int? {
        if case .integer(let v)? = try value(key, flag: flag) { return v }
        return nil
    }

    func bool(_ key: String, flag: String? = nil) throws -> Bool? {
        if case .bool(let v)? = try value(key, flag: flag) { return v }
        return nil
    }

    func size(_ key: String, flag: String? = nil) throws -> Int? {
        if case .integer(let v)? = try value(key, flag: flag) { return v }
        return nil
    }

    func duration(_ key: String, flag: String? = nil) throws -> Duration? {
        if case .duration(let v)? = try value(key, flag: flag) { return v }
        return nil
    }

    func list(_ key: String) throws -> [String] {
        if case .list(let v)? = try value(key) { return v }
        return []
    }

    /// A flag that has no config key (`--expires`, `--every`), checked by the same parser.
    static func flag(_ raw: String?, _ name: String, _ kind: SettingKind) throws -> ParsedSetting? {
        guard let raw else { return nil }
        return try check(raw, kind, from: .flag(name))
    }

    static func parse(_ raw: String, key: String, from source: Source) throws -> ParsedSetting {
        guard let spec = schema[key] else { throw CLIError.config("\(source): unknown key '\(key)'") }
        return try check(raw, spec.kind, from: source)
    }

    /// The one check every value goes through.
    static func check(_ raw: String, _ kind: SettingKind, from source: Source) throws -> ParsedSetting {
        let parsed: ParsedSetting?
        /// What is wrong with the value, when the parser can say more than `kind.expected`.
        var problem: String? = nil
        switch kind {
        case .string: parsed = .string(raw)
        case .selectors:
            do { parsed = .string(try MainContentSelectors(raw).description) } catch {
                parsed = nil
                problem = error.description
            }
        case .integer(let r): parsed = SettingValue.integer(raw, in: r).map(ParsedSetting.integer)
        case .size(let r): parsed = SettingValue.size(raw, in: r).map(ParsedSetting.integer)
        case .bool: parsed = SettingValue.bool(raw).map(ParsedSetting.bool)
        case .duration(let r): parsed = SettingValue.duration(raw, in: r).map(ParsedSetting.duration)
        case .projectNames:
            let entries = commaList(raw)
            parsed = entries.allSatisfy({ (try? Names.validate($0, what: "project")) != nil }) ? .list(entries) : nil
        case .httpURL:
            let u = URLComponents(string: raw.trimmingCharacters(in: .whitespaces))
            parsed = u.flatMap { u in
                guard let scheme = u.scheme?.lowercased(), scheme == "http" || scheme == "https", let host = u.host, !host.isEmpty
                else { return nil }
                return .string(raw.trimmingCharacters(in: .whitespaces))
            }
        case .headerNames:
            let entries = commaList(raw)
            parsed = !entries.isEmpty && entries.allSatisfy(isHeaderName) ? .list(entries) : nil
        case .oneOf(let choices):
            parsed = choices.contains(raw.trimmingCharacters(in: .whitespaces)) ? .string(raw.trimmingCharacters(in: .whitespaces)) : nil
        case .projectVersions:
            let entries = commaList(raw)
            parsed = entries.allSatisfy({ e in
                let kv = e.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                return kv.count == 2 && (try? Names.validate(kv[0], what: "project")) != nil && (try? Names.validate(kv[1], what: "version")) != nil
            }) ? .list(entries) : nil
        }
        guard let parsed else {
            let shown = Output.safe(String(raw.prefix(80))) + (raw.count > 80 ? "…" : "")
            // A URL may carry a password or a key: never repeat it.
            let message = problem.map { "\(source): \(Output.safe($0))" }
                ?? (kind.echoesValue ? "\(source) must be \(kind.expected), got '\(shown)'" : "\(source) must be \(kind.expected)")
            if case .flag = source { throw CLIError.usage(message) }
            throw CLIError.config(message)
        }
        return parsed
    }

    /// An HTTP field name (RFC 9110 token).
    static func isHeaderName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// `a, b,c` → `["a", "b", "c"]` (blank entries dropped).
    static func commaList(_ s: String) -> [String] {
        s.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    // MARK: The config file

    static func readFile(_ path: String) throws -> String {
        let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
        guard size <= maxFileBytes else {
            throw CLIError.config("\(Output.safe(path)): \(size) bytes; a config file may have at most \(maxFileBytes / 1024) KiB")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError.config("cannot read config file \(Output.safe(path))") }
        defer { try? handle.close() }
        // Read at most one byte past the cap, in case the file grew since it was measured.
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else {
            throw CLIError.config("\(Output.safe(path)): a config file may have at most \(maxFileBytes / 1024) KiB")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw CLIError.config("\(Output.safe(path)): not UTF-8 text") }
        return text
    }

    /// The file's values by dotted key. Anchors and aliases are refused before the document is built
    /// (expanding nested aliases is exponential: the "billion laughs"); every key must be in the schema,
    /// and every value a scalar or a flat list of scalars, checked by the same parser as variables.
    static func parseFile(_ text: String, source: String) throws -> [String: String] {
        let name = Output.safe(source)
        if let line = firstAnchorOrAlias(text) {
            throw CLIError.config("\(name): line \(line): YAML anchors and aliases (&name, *name) are not accepted in a config file; write the value out, or quote it if it starts with & or *")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch {
            throw CLIError.config("\(name): not valid YAML: \(Output.safe(String(describing: error).split(separator: "\n").first.map(String.init) ?? ""))")
        }
        guard let root, root.null == nil else { return [:] }
        guard let map = root.mapping else { throw CLIError.config("\(name): the top level must be a mapping of keys") }
        var out: [String: String] = [:]
        func visit(_ m: Node.Mapping, prefix: String) throws {
            for (k, v) in m {
                guard let ks = k.scalar?.string else { throw CLIError.config("\(name): keys must be plain names\(prefix.isEmpty ? "" : " (under '\(prefix)')")") }
                let key = prefix.isEmpty ? ks : prefix + "." + ks
                if let sub = v.mapping {
                    guard schema.keys.contains(where: { $0.hasPrefix(key + ".") }) else {
                        throw CLIError.config("\(name): unknown section '\(Output.safe(key))'")
                    }
                    try visit(sub, prefix: key)
                    continue
                }
                guard schema[key] != nil else {
                    let known = schema.keys.filter { $0.hasPrefix(prefix) }.sorted().joined(separator: ", ")
                    throw CLIError.config("\(name): unknown key '\(Output.safe(key))' (known keys: \(known))")
                }
                let raw: String
                if let s = v.scalar, v.null == nil {
                    raw = s.string
                } else if let seq = v.sequence {
                    let items = seq.map { $0.scalar?.string }
                    guard items.allSatisfy({ $0 != nil }) else { throw CLIError.config("\(name): key '\(key)' must be a value or a list of values") }
                    raw = items.map { $0! }.joined(separator: ",")
                } else {
                    throw CLIError.config("\(name): key '\(key)' has no value")
                }
                _ = try parse(raw, key: key, from: .file(path: name, key: key))
                out[key] = raw
            }
        }
        try visit(map, prefix: "")
        return out
    }

    /// The line of the first anchor or alias in a YAML text, by libyaml's own scanner (so quoted `&`
    /// and `*` are not mistaken for them), or nil. A scanner error is left for the parser to report.
    static func firstAnchorOrAlias(_ text: String) -> Int? {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { buf -> Int? in
            yaml_parser_set_input_string(&parser, buf.baseAddress, buf.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            while true {
                var token = yaml_token_t()
                guard yaml_parser_scan(&parser, &token) == 1 else { return nil }
                defer { yaml_token_delete(&token) }
                switch token.type {
                case YAML_ANCHOR_TOKEN, YAML_ALIAS_TOKEN: return Int(token.start_mark.line) + 1
                case YAML_STREAM_END_TOKEN, YAML_NO_TOKEN: return nil
                default: continue
                }
            }
        }
    }
}

/// What a setting accepts (ranges are inclusive).
enum SettingKind {
    case string
    case integer(ClosedRange<Int>)
    case bool
    case size(ClosedRange<Int>)
    case duration(ClosedRange<Duration>)
    /// Comma-separated project names (`serve.private_projects`).
    case projectNames
    /// Comma-separated `PROJECT=VERSION` entries (`serve.default_versions`).
    case projectVersions
    /// An `http://` or `https://` URL with a host (`serve.auth_url`); never echoed in errors.
    case httpURL
    /// Comma-separated HTTP header names (`serve.auth_headers`).
    case headerNames
    /// One of a few words (`serve.auth_denied`).
    case oneOf([String])
    /// A comma-separated list of simple CSS selectors (`MainContentSelectors`).
    case selectors

    /// Whether an error may quote the rejected value (not for URLs, which may hold credentials).
    var echoesValue: Bool { if case .httpURL = self { false } else { true } }

    var expected: String {
        switch self {
        case .string: "a string"
        case .integer(let r): "a whole number from \(r.lowerBound) to \(r.upperBound)"
        case .bool: "true or false (or yes/no, on/off, 1/0)"
        case .size(let r): "a size such as 4MiB or 8192, from \(Output.bytes(r.lowerBound)) to \(Output.bytes(r.upperBound))"
        case .duration(let r):
            "a duration such as 500ms, 30s, 10m, 6h or 7d, from \(SettingKind.show(r.lowerBound)) to \(SettingKind.show(r.upperBound))"
        case .projectNames: "comma-separated project names (1-100 letters, digits, '.', '_' or '-', starting with a letter or digit)"
        case .projectVersions: "comma-separated PROJECT=VERSION entries with valid project and version names"
        case .httpURL: "an http:// or https:// URL with a host"
        case .headerNames: "comma-separated HTTP header names (letters, digits and !#$%&'*+-.^_`|~)"
        case .oneOf(let choices): "one of " + choices.joined(separator: ", ")
        case .selectors: "comma-separated CSS selectors (tag, .class, #id, [attribute=value])"
        }
    }

    static func show(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        if ms == 0 { return "0s" }
        if ms % 86_400_000 == 0 { return "\(ms / 86_400_000)d" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}

/// A checked setting value.
enum ParsedSetting {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case duration(Duration)
    case list([String])

    var duration: Duration? { if case .duration(let d) = self { d } else { nil } }
}
