/// Exit codes of `trove` (documented in README and `trove --help`).
enum ExitStatus: Int32 {
    case ok = 0
    /// A store or repository error (corrupt or missing object, missing version), or a local operation
    /// that failed (permission denied, listen address in use, export destination not writable).
    case failure = 1
    /// Some media types published, others failed and kept their previous content.
    case partial = 3
    /// Bad command line or configuration (EX_USAGE).
    case usage = 64
    /// Bad input: the build tree had paths that cannot be published; nothing was switched (EX_DATAERR).
    case badInput = 65
    /// The store could not be reached, or libcurl (for S3 stores) could not be loaded (EX_UNAVAILABLE).
    case unavailable = 69
}

/// Errors the CLI reports as one clear line with a meaningful exit code.
enum CLIError: Error, CustomStringConvertible {
    case config(String)
    case usage(String)
    case input(String)
    /// A local operation failed (listen address taken, export destination not writable): exit 1.
    case system(String)

    var description: String {
        switch self {
        case .config(let m): "config: \(m)"
        case .usage(let m): m
        case .input(let m): m
        case .system(let m): m
        }
    }

    var status: ExitStatus {
        switch self {
        case .config, .usage: .usage
        case .input: .badInput
        case .system: .failure
        }
    }
}
