/// The one parser for setting values (booleans, counts, sizes, durations), whatever their source:
/// command-line flags, `TROVE_*` variables, the config file or a store URL's query. Strict and
/// overflow-safe: a value either parses to something in range or is nil, never a trap.
public enum SettingValue {
    /// The longest duration any setting takes (100 years): far beyond any sensible grace, TTL or
    /// expiry, and small enough that adding it to a clock reading or a count of seconds cannot overflow.
    public static let maxDuration: Duration = .seconds(36_500 * 86_400)

    /// `true`/`false`, also `yes`/`no`, `on`/`off`, `1`/`0`, in any case (what YAML 1.1 reads as booleans).
    public static func bool(_ s: String) -> Bool? {
        switch trimmed(s).lowercased() {
        case "true", "yes", "on", "1": true
        case "false", "no", "off", "0": false
        default: nil
        }
    }

    /// A decimal integer (optional sign) within `range`.
    public static func integer(_ s: String, in range: ClosedRange<Int> = Int.min...Int.max) -> Int? {
        guard let v = Int(trimmed(s)), range.contains(v) else { return nil }
        return v
    }

    /// A byte count: digits with an optional unit `B`, `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (binary).
    public static func size(_ s: String, in range: ClosedRange<Int> = 0...Int.max) -> Int? {
        let t = trimmed(s)
        let units: [(String, Int)] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
                                      ("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        var digits = Substring(t), multiplier = 1
        for (u, m) in units where t.hasSuffix(u) {
            digits = t.dropLast(u.count)
            multiplier = m
            break
        }
        guard let n = unsigned(trimmed(digits)) else { return nil }
        let (v, overflow) = n.multipliedReportingOverflow(by: multiplier)
        guard !overflow, range.contains(v) else { return nil }
        return v
    }

    /// A duration: a decimal number (up to 9 fraction digits) and a unit `ms`, `s`, `m`, `h` or `d`;
    /// at most `maxDuration`, and within `range`.
    public static func duration(_ s: String, in range: ClosedRange<Duration> = .zero...maxDuration) -> Duration? {
        let t = trimmed(s)
        let units: [(String, Int64)] = [("ms", 1_000_000), ("s", 1_000_000_000), ("m", 60_000_000_000),
                                        ("h", 3_600_000_000_000), ("d", 86_400_000_000_000)]
        guard let (unit, nanosPerUnit) = units.first(where: { t.hasSuffix($0.0) }) else { return nil }
        let number = t.dropLast(unit.count)
        let parts = number.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = unsigned(parts[0]) else { return nil }
        var nanos = Int64(0)
        if parts.count == 2 {
            let fraction = parts[1]
            guard (1...9).contains(fraction.count), let f = unsigned(fraction) else { return nil }
            var scale = Int64(1)
            for _ in 0..<fraction.count { scale *= 10 }
            // f < scale ≤ 10^9 and nanosPerUnit ≤ 8.64·10^13: the product fits before the division.
            nanos = Int64(f) * (nanosPerUnit / scale) + Int64(f) * (nanosPerUnit % scale) / scale
        }
        let (w, o1) = Int64(whole).multipliedReportingOverflow(by: nanosPerUnit)
        let (total, o2) = w.addingReportingOverflow(nanos)
        guard !o1, !o2 else { return nil }
        let d = Duration.nanoseconds(total)
        guard d <= maxDuration, range.contains(d) else { return nil }
        return d
    }

    /// `s` without leading and trailing spaces and tabs.
    private static func trimmed<S: StringProtocol>(_ s: S) -> Substring {
        let sub = Substring(s)
        guard let first = sub.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = sub.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return sub[sub.endIndex...] }
        return sub[first...last]
    }

    /// Plain ASCII digits, no sign, no more than fits an Int.
    private static func unsigned<S: StringProtocol>(_ s: S) -> Int? {
        guard !s.isEmpty, s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(s)
    }
}
