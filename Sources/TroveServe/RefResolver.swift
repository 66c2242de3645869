import Foundation
import Logging
import Synchronization
import TroveContent
import TroveRepository

/// Resolves `(project, version-or-alias)` to a manifest digest, and a project to its default version,
/// caching answers for `ttl`. A stale answer is served while one background refresh re-reads the ref
/// (stale-while-revalidate), so a new publish is picked up within `ttl` plus one store round trip and
/// no request waits on a ref re-check. If the refresh fails (store outage) the last answer is kept.
///
/// **Negative answers.** A name that turns out missing makes the resolver list the project's refs
/// (one LIST, shared by concurrent misses) and keep the names it found for `ttl`. Until then any other
/// name of that project that is not among them is answered missing with no store request, and a
/// project with no refs at all answers every name so; such answers expire with the listing, so a
/// version published after it is visible within `ttl` (plus a round trip), as for any ref. At most
/// `maxProjects` listings are kept (cleared wholesale when full).
final class RefResolver: Sendable {
    enum Answer: Sendable, Equatable {
        /// A version (named directly or through an alias) and its live manifest.
        case version(manifest: Digest, version: String)
        /// The default version of a project.
        case defaultVersion(String)
        case missing
    }

    struct Key: Hashable, Sendable {
        var project: String
        /// A version or alias; "" asks for the project's default version.
        var name: String
    }

    struct Entry: Sendable {
        var answer: Answer
        var fetched: ContinuousClock.Instant
        var refreshing: Bool
    }

    let repository: Repository
    let ttl: Duration
    /// Configured default versions by project (used when the project has no `latest`).
    let defaults: [String: String]
    let logger: Logger
    private let entries = Mutex<[Key: Entry]>([:])
    static let maxEntries = 10_000

    /// A project's version and alias names as one listing saw them, or that listing in flight.
    private enum Listing {
        case loading(Task<Set<String>, any Error>, since: ContinuousClock.Instant)
        case listed(Set<String>, at: ContinuousClock.Instant)
    }
    private let names = Mutex<[String: Listing]>([:])
    static let maxProjects = 10_000

    init(repository: Repository, ttl: Duration, defaults: [String: String], logger: Logger) {
        self.repository = repository
        self.ttl = ttl
        self.defaults = defaults
        self.logger = logger
    }

    func version(_ project: String, _ name: String) async throws -> Answer {
        try await answer(Key(project: project, name: name))
    }

    func defaultVersion(_ project: String) async throws -> Answer {
        try await answer(Key(project: project, name: ""))
    }

    /// The cached answer for a version or alias if it is still within the TTL, without waiting, fetching
    /// or starting a refresh (the fast path; anything else goes the slow way, which refreshes).
    func freshVersion(_ project: String, _ name: String, now: ContinuousClock.Instant) -> Answer? {
        entries.withLock { m in
            guard let e = m[Key(project: project, name: name)], now - e.fetched < ttl else { return nil }
            return e.answer
        }
    }

    private func answer(_ key: Key) async throws -> Answer {
        let now = ContinuousClock.now
        enum Step { case done(Answer), refresh(Answer), fetch }
        let step: Step = entries.withLock { m in
            guard var e = m[key] else { return .fetch }
            if now - e.fetched < ttl || e.refreshing { return .done(e.answer) }
            e.refreshing = true
            m[key] = e
            return .refresh(e.answer)
        }
        switch step {
        case .done(let a):
            return a
        case .refresh(let a):
            Task { [self] in
                do {
                    let (fresh, at) = try await lookUp(key)
                    store(key, fresh, fetched: at)
                } catch {
                    logger.warning("ref refresh failed; serving the last answer", metadata: [
                        "project": "\(key.project)", "name": "\(key.name)", "error": "\(error)"])
                    entries.withLock { m in
                        if var e = m[key] { e.refreshing = false; e.fetched = ContinuousClock.now - ttl + .seconds(1); m[key] = e }
                    }
                }
            }
            return a
        case .fetch:
            let (fresh, at) = try await lookUp(key)
            store(key, fresh, fetched: at)
            return fresh
        }
    }

    private func store(_ key: Key, _ answer: Answer, fetched: ContinuousClock.Instant) {
        entries.withLock { m in
            if m.count >= RefResolver.maxEntries { m.removeAll(keepingCapacity: true) }
            m[key] = Entry(answer: answer, fetched: fetched, refreshing: false)
        }
    }

    /// An answer and the time it is as fresh as: from the project's listing when one is at hand and
    /// does not have the name (no request), else from the refs, listing the project after a miss.
    private func lookUp(_ key: Key) async throws -> (Answer, ContinuousClock.Instant) {
        let started = ContinuousClock.now
        guard (try? Names.validate(key.project, what: "project")) != nil,
              key.name.isEmpty || (try? Names.validate(key.name, what: "version")) != nil else { return (.missing, started) }
        if let (known, at) = await listedNames(key.project, start: false),
           known.isEmpty || (!key.name.isEmpty && !known.contains(key.name)) {
            return (.missing, at)
        }
        let answer = try await fetch(key)
        if answer == .missing { _ = await listedNames(key.project, start: true) }
        return (answer, started)
    }

    /// The project's names from a listing younger than `ttl`, waiting for one in flight; with `start`,
    /// lists the project if there is none. nil when there is none (or the listing failed: the answers
    /// then come from the refs, as without listings).
    private func listedNames(_ project: String, start: Bool) async -> (Set<String>, ContinuousClock.Instant)? {
        let now = ContinuousClock.now
        enum Step { case known(Set<String>, ContinuousClock.Instant), wait(Task<Set<String>, any Error>, ContinuousClock.Instant), none }
        let step: Step = names.withLock { m in
            switch m[project] {
            case .listed(let n, let at)? where now - at < ttl:
                return .known(n, at)
            case .loading(let t, let since)?:
                return .wait(t, since)
            default:
                guard start else { return .none }
                let t = Task { [repository] () throws -> Set<String> in
                    let l = try await repository.listProject(project)
                    return Set(l.versions.map(\.name) + l.aliases.map(\.name))
                }
                if m.count >= RefResolver.maxProjects { m.removeAll(keepingCapacity: true) }
                m[project] = .loading(t, since: now)
                return .wait(t, now)
            }
        }
        switch step {
        case .none:
            return nil
        case .known(let n, let at):
            return (n, at)
        case .wait(let t, let started):
            // A listing is as fresh as the moment it was asked for (a later publish may be missing).
            let result = await t.result
            names.withLock { m in
                guard case .loading(let current, _)? = m[project], current == t else { return }
                if case .success(let n) = result { m[project] = .listed(n, at: started) } else { m[project] = nil }
            }
            if case .success(let n) = result { return (n, started) }
            logger.warning("listing a project's refs failed", metadata: ["project": "\(project)", "error": "\(result)"])
            return nil
        }
    }

    /// Reads from the store: a version ref, else an alias to a version, else missing. A ref that names
    /// its build's dictionary starts fetching it, so it arrives beside the manifest.
    private func fetch(_ key: Key) async throws -> Answer {
        guard (try? Names.validate(key.project, what: "project")) != nil else { return .missing }
        if key.name.isEmpty { return try await fetchDefault(key.project) }
        guard (try? Names.validate(key.name, what: "version")) != nil else { return .missing }
        if let r = try await repository.ref(key.project, key.name) {
            if let d = r.ref.current.dictionary { repository.prefetchDictionary(d) }
            return .version(manifest: r.ref.current.manifest, version: key.name)
        }
        if let a = try await repository.alias(key.project, key.name), let r = try await repository.ref(key.project, a.version) {
            if let d = r.ref.current.dictionary { repository.prefetchDictionary(d) }
            return .version(manifest: r.ref.current.manifest, version: a.version)
        }
        return .missing
    }

    /// `latest` (version or alias) if present, else the configured default, else the most recently published.
    private func fetchDefault(_ project: String) async throws -> Answer {
        if case .version = try await fetch(Key(project: project, name: "latest")) { return .defaultVersion("latest") }
        if let d = defaults[project], case .version = try await fetch(Key(project: project, name: d)) { return .defaultVersion(d) }
        // A malformed ref cannot be served (verify and ls name it); it must not hide the project's others.
        let versions = try await repository.versionListing(of: project).versions
        guard let newest = versions.max(by: { ($0.current.published, $0.version) < ($1.current.published, $1.version) }) else {
            return .missing
        }
        return .defaultVersion(newest.version)
    }
}
