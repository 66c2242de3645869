import Foundation
import Yams

/// Settings from the config file, layered under `TROVE_*` environment variables and flags.
///
/// Precedence, highest first: command-line flags, `TROVE_*` environment variables, the config file
/// (`--config`, `$TROVE_CONFIG`, `~/.config/trove/config.yaml`, `/etc/trove/config.yaml`), defaults.
/// Unknown keys and wrong types are errors naming the key, so a typo never silently does nothing.
struct TroveConfig {
    var values: [String: String] = [:]
    var source: String?

    /// Every key the file may set, with its type. Dotted keys are nested YAML maps.
    static let schema: [String: ValueKind] = [
        "store": .string, "cache_dir": .string,
        "publish.jobs": .int, "publish.uploads": .int, "publish.pack_size": .size,
        "publish.chunk_min": .size, "publish.chunk_avg": .size, "publish.chunk_max": .size,
        "publish.dictionary": .bool, "publish.index_versions": .int, "publish.zip_aware": .bool,
        "s3.endpoint": .string, "s3.region": .string, "s3.path_style": .bool, "s3.max_connections": .int,
        "s3.access_key_id": .string, "s3.secret_access_key": .string, "s3.session_token": .string,
        "azure.account": .string, "azure.endpoint": .string, "azure.max_connections": .int, "azure.stall_timeout": .int,
        "azure.list_page_size": .int, "azure.account_key": .string, "azure.sas_token": .string, "azure.connection_string": .string,
        "retry.max_attempts": .int, "retry.timeout": .duration,
        "serve.listen": .string, "serve.cache_control": .string, "serve.ref_ttl": .duration, "serve.cache_bytes": .size,
        "serve.signing_key": .string, "serve.tokens": .string, "serve.private_projects": .string,
        "serve.default_versions": .string, "serve.idle_timeout": .duration, "serve.access_log": .bool, "serve.fast_path": .bool, "serve.base_url": .string,
        "gc.grace": .duration, "gc.keep_builds": .int, "gc.keep_within": .duration,
    ]

    /// Sections whose keys are handed to the store backends as `StoreSettings` (docs/s3.md, docs/azure.md).
    static let backendSections = ["s3", "azure"]

    enum ValueKind { case string, int, bool, size, duration }

    static func load(explicitPath: String?, environment: [String: String]) throws -> TroveConfig {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let candidates: [String]
        if let p = explicitPath ?? environment["TROVE_CONFIG"] {
            guard FileManager.default.fileExists(atPath: p) else { throw CLIError.config("config file \(p) does not exist") }
            candidates = [p]
        } else {
            candidates = [(environment["XDG_CONFIG_HOME"] ?? home + "/.config") + "/trove/config.yaml", "/etc/trove/config.yaml"]
        }
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw CLIError.config("cannot read config file \(path)")
            }
            return try parse(text, source: path)
        }
        return TroveConfig()
    }

    static func parse(_ text: String, source: String) throws -> TroveConfig {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw CLIError.config("\(source): not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        var out = TroveConfig(source: source)
        guard let root else { return out }
        guard let map = root as? [String: Any] else { throw CLIError.config("\(source): the top level must be a mapping of keys") }
        func visit(_ m: [String: Any], prefix: String) throws {
            for (k, v) in m {
                let key = prefix.isEmpty ? k : prefix + "." + k
                if let sub = v as? [String: Any] {
                    try visit(sub, prefix: key)
                    continue
                }
                guard let kind = schema[key] else {
                    throw CLIError.config("\(source): unknown key '\(key)' (known keys: \(schema.keys.filter { $0.hasPrefix(prefix) }.sorted().joined(separator: ", ")))")
                }
                let s: String
                switch v {
                case let b as Bool: s = String(b)
                case let i as Int: s = String(i)
                case let d as Double: s = String(d)
                case let str as String: s = str
                case let arr as [Any]: s = arr.map { "\($0)" }.joined(separator: ",")
                default: throw CLIError.config("\(source): key '\(key)' has an unsupported value")
                }
                try validate(s, kind: kind, key: key, source: source)
                out.values[key] = s
            }
        }
        try visit(map, prefix: "")
        return out
    }

    static func validate(_ s: String, kind: ValueKind, key: String, source: String) throws {
        let ok: Bool
        switch kind {
        case .string: ok = true
        case .int: ok = Int(s).map { $0 >= 0 } ?? false
        case .bool: ok = ["true", "false"].contains(s.lowercased())
        case .size: ok = ByteSize.parse(s) != nil
        case .duration: ok = DurationParser.parse(s) != nil
        }
        if !ok { throw CLIError.config("\(source): key '\(key)' must be \(kind.expected), got '\(s)'") }
    }

    /// A setting by key: the `TROVE_<KEY>` environment variable (dots become underscores), then the file.
    func value(_ key: String, environment: [String: String]) -> String? {
        let envName = "TROVE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
        return environment[envName] ?? values[key]
    }
}

extension TroveConfig.ValueKind {
    var expected: String {
        switch self {
        case .string: "a string"
        case .int: "a non-negative integer"
        case .bool: "true or false"
        case .size: "a size such as 4MiB or 8192"
        case .duration: "a duration such as 30s, 10m, 6h or 7d"
        }
    }
}

/// Sizes such as `8192`, `64KiB`, `4MiB`, `1GiB` (also KB/MB/GB as powers of 1000... kept binary: K=1024).
enum ByteSize {
    static func parse(_ s: String) -> Int? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [(String, Int)] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        for (u, m) in units where t.hasSuffix(u) {
            return Int(t.dropLast(u.count).trimmingCharacters(in: .whitespaces)).map { $0 * m }
        }
        return Int(t)
    }
}

/// Durations such as `500ms`, `30s`, `10m`, `6h`, `7d`.
enum DurationParser {
    static func parse(_ s: String) -> Duration? {
        let t = s.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (u, m) in units where t.hasSuffix(u) {
            guard let v = Double(t.dropLast(u.count)), v >= 0 else { return nil }
            return .milliseconds(Int64(v * m * 1000))
        }
        return nil
    }
}
