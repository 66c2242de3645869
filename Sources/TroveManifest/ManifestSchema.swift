import Foundation

/// The manifest's SQLite schema, format version 2 (version 1 lacked `files.main_digest`; readers
/// still accept it). Documented in docs/storage-format.md; any change bumps `ManifestMetadata.currentFormatVersion`.
///
/// Digest columns carry no index: every build rewrites its whole chunk table, and 32 random bytes
/// per index entry would nearly double the manifest. The writer keeps digests unique; readers that
/// need lookup by digest (publish, gc) load the table into their own structures.
enum ManifestSchema {
    static let create = """
    PRAGMA page_size = 4096;
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE packs(id INTEGER PRIMARY KEY, digest BLOB NOT NULL);
    CREATE TABLE dictionaries(id INTEGER PRIMARY KEY, digest BLOB NOT NULL);
    CREATE TABLE chunks(
        id INTEGER PRIMARY KEY,
        digest BLOB NOT NULL,
        raw_size INTEGER NOT NULL,
        stored_size INTEGER NOT NULL,
        codec INTEGER NOT NULL,
        dictionary_id INTEGER REFERENCES dictionaries(id),
        pack_id INTEGER NOT NULL REFERENCES packs(id),
        pack_offset INTEGER NOT NULL);
    CREATE TABLE files(
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('file', 'dir', 'symlink')),
        size INTEGER NOT NULL,
        mode INTEGER NOT NULL,
        content_type TEXT,
        digest BLOB,
        link_target TEXT,
        main_digest BLOB);
    CREATE TABLE file_chunks(
        file_id INTEGER NOT NULL REFERENCES files(id),
        seq INTEGER NOT NULL,
        file_offset INTEGER NOT NULL,
        chunk_id INTEGER NOT NULL REFERENCES chunks(id),
        PRIMARY KEY (file_id, seq)) WITHOUT ROWID;
    CREATE VIEW file_list AS
        SELECT path, kind, size, printf('%o', mode) AS mode, content_type, lower(hex(digest)) AS digest, link_target,
               lower(hex(main_digest)) AS main_digest
        FROM files ORDER BY path;
    CREATE VIEW chunk_list AS
        SELECT f.path, fc.seq, fc.file_offset, lower(hex(c.digest)) AS chunk, c.raw_size, c.stored_size,
               CASE c.codec WHEN 0 THEN 'raw' WHEN 1 THEN 'zstd' ELSE 'zstd+dict' END AS codec,
               lower(hex(p.digest)) AS pack, c.pack_offset
        FROM file_chunks fc JOIN files f ON f.id = fc.file_id JOIN chunks c ON c.id = fc.chunk_id
        JOIN packs p ON p.id = c.pack_id ORDER BY f.path, fc.seq;
    """
}

extension ManifestSchema {
    /// The schema's rows in `sqlite_schema` as SQLite records them for `create`, in creation order:
    /// type, name and the statement text (CREATE … without the semicolon), with the automatic index
    /// SQLite makes for `files.path UNIQUE` right after its table. `ManifestWriter` writes these; a
    /// test checks them against what SQLite itself stores.
    static let objects: [(type: String, name: String, sql: String?)] = {
        var out: [(type: String, name: String, sql: String?)] = []
        for statement in create.split(separator: ";") {
            let sql = statement.trimmingCharacters(in: .whitespacesAndNewlines)
            for (prefix, type) in [("CREATE TABLE ", "table"), ("CREATE VIEW ", "view")] where sql.hasPrefix(prefix) {
                let name = String(sql.dropFirst(prefix.count).prefix { $0 != "(" && $0 != " " && $0 != "\n" })
                out.append((type, name, sql))
                if name == "files" { out.append(("index", "sqlite_autoindex_files_1", nil)) }
            }
        }
        return out
    }()
}
