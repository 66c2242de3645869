import Foundation
import TroveRepository
import TroveHTTP
import TroveS3
import TroveStorage
#if canImport(Glibc)
import Glibc
#endif

/// Human and machine output helpers shared by the commands.
enum Output {
    static let stderrIsTerminal = isatty(2) == 1

    static func json<T: Encodable>(_ value: T) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileHandle.standardOutput.write(try enc.encode(value))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }

    static func line(_ s: String) { print(s) }

    /// One error line on stderr; control characters in it are escaped (`safe`), so a message quoting a
    /// hostile name stays one line and cannot drive the terminal.
    static func error(_ s: String) {
        FileHandle.standardError.write(Data("trove: \(safe(s))\n".utf8))
    }

    /// Text from outside (file names, link targets, values from a build tree, a manifest or a setting)
    /// made safe to print on a terminal: C0/C1 control characters, DEL, and the bidirectional overrides
    /// that reorder what a terminal shows become escapes (`\n`, `\u{1B}`); backslash is doubled so an
    /// escape cannot be faked. `--json` output escapes by JSON's own rules instead.
    static func safe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars {
            guard needsEscape(u) else { out.append(u); continue }
            let text: String
            switch u {
            case "\\": text = "\\\\"
            case "\n": text = "\\n"
            case "\t": text = "\\t"
            case "\r": text = "\\r"
            default: text = "\\u{\(String(u.value, radix: 16, uppercase: true))}"
            }
            out.append(contentsOf: text.unicodeScalars)
        }
        return String(out)
    }

    private static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x5C, 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }

    /// `1.5 MiB`, `312 KiB`, `17 B`.
    static func bytes(_ n: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n), u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) B" : String(format: v < 10 ? "%.2f %@" : "%.1f %@", v, units[u])
    }

    /// `12,345`.
    static func count(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        return f.string(from: NSNumber(value: n)) ?? String(n)
    }

    static func requests(_ r: RequestCounts) -> String {
        "\(r.total) (\(r.puts) PUT, \(r.gets) GET, \(r.heads) HEAD, \(r.lists) LIST, \(r.deletes) DELETE); \(bytes(r.bytesUp)) up, \(bytes(r.bytesDown)) down"
    }
}

/// A progress line on stderr, redrawn a few times a second, only when stderr is a terminal.
final class ProgressLine: @unchecked Sendable {
    private var task: Task<Void, Never>?

    init(enabled: Bool, render: @escaping @Sendable () -> String) {
        guard enabled else { return }
        task = Task.detached {
            while !Task.isCancelled {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(render())".utf8))
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    func finish() {
        guard let task else { return }
        task.cancel()
        FileHandle.standardError.write(Data("\r\u{1B}[2K".utf8))
    }
}

/// An error already described for the user (with context the underlying error lacks); its exit
/// status is the underlying error's.
struct ReportedError: Error, CustomStringConvertible {
    let underlying: any Error
    let message: String
    var description: String { message }
}

/// Maps any error to one clear line and an exit status.
enum ErrorReport {
    static func status(for error: any Error) -> ExitStatus {
        switch error {
        case let e as CLIError: return e.status
        case let e as ReportedError: return status(for: e.underlying)
        case let e as BlobStoreError:
            if case .transient = e { return .unavailable }
            return .failure
        case is NameError, is StoreMarkerError: return .usage
        case is CurlUnavailableError: return .unavailable
        default: return .failure
        }
    }

    static func message(for error: any Error) -> String {
        fileSystemMessage(error) ?? String(describing: error)
    }

    /// "PATH: cause" for Foundation's file errors (instead of `Error Domain=NSCocoaErrorDomain Code=…`).
    static func fileSystemMessage(_ error: any Error) -> String? {
        let ns = error as NSError
        guard ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain else { return nil }
        let path = (ns.userInfo[NSFilePathErrorKey] as? String) ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        return (path.map { "\($0): " } ?? "") + fileSystemCause(error)
    }

    /// The cause of a Foundation file error in words: the POSIX error underneath when there is one.
    static func fileSystemCause(_ error: any Error) -> String {
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "No such file or directory"
        case .fileWriteNoPermission, .fileReadNoPermission: return "Permission denied"
        case .fileWriteFileExists: return "File exists"
        case .fileWriteOutOfSpace: return "No space left on device"
        case .fileWriteVolumeReadOnly: return "Read-only file system"
        default: return ns.localizedDescription
        }
    }
}
