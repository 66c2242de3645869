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

    static func error(_ s: String) {
        FileHandle.standardError.write(Data("trove: \(s)\n".utf8))
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

/// Maps any error to one clear line and an exit status.
enum ErrorReport {
    static func status(for error: any Error) -> ExitStatus {
        switch error {
        case let e as CLIError: return e.status
        case let e as BlobStoreError:
            if case .transient = e { return .unavailable }
            return .failure
        case is NameError: return .usage
        case is CurlUnavailableError: return .unavailable
        default: return .failure
        }
    }

    static func message(for error: any Error) -> String {
        String(describing: error)
    }
}
