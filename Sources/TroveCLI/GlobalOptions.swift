import ArgumentParser
import Foundation

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Store URL: file:///path, s3://bucket/prefix, azure://container/prefix, memory:// (or TROVE_STORE; default ~/.local/share/trove/store).", valueName: "url"))
    var store: String?

    @Option(name: .long, help: ArgumentHelp("Config file (or TROVE_CONFIG; default ~/.config/trove/config.yaml, /etc/trove/config.yaml).", valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Local cache directory for manifests (or TROVE_CACHE_DIR).", valueName: "path"))
    var cacheDir: String?

    @Flag(name: .long, help: "Print machine-readable JSON instead of the human summary.")
    var json = false

    @Flag(name: [.short, .long], help: "Log store requests and retries to stderr.")
    var verbose = false
}
