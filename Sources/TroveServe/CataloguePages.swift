import Foundation
import TroveHTTP

/// The server-rendered catalogue pages (`/_/`, `/_/<p>/`, `/_/<p>/diff/<base>...<head>`): plain HTML
/// with inline CSS and no script, rendered from the API's documents. Every string from the store goes
/// through `MarkupEscaping.escape`; every link is made by `CatalogueURL`.
enum CataloguePages {
    /// `/_/`: the projects this request may see.
    static func projects(_ list: CatalogueAPI.ProjectList) -> [UInt8] {
        var b = ""
        if list.projects.isEmpty {
            b += "<p>No projects are published here yet.</p>\n"
        } else {
            b += """
                <div class="wrap" role="region" aria-labelledby="t-projects" tabindex="0">
                <table>
                <caption id="t-projects">\(list.projects.count) project\(list.projects.count == 1 ? "" : "s")</caption>
                <thead><tr><th scope="col">Project</th><th scope="col">Versions</th><th scope="col">Default version</th><th scope="col">Access</th></tr></thead>
                <tbody>\n
                """
            for p in list.projects {
                let site = p.siteUrl.map { " (<a href=\"\(e($0))\">open</a>)" } ?? ""
                b += "<tr><th scope=\"row\"><a href=\"\(e(p.catalogueUrl))\">\(e(p.name))</a></th>"
                    + td("Versions", "\(p.versions)", number: true) + td("Default version", e(p.defaultVersion ?? "–") + site)
                    + td("Access", p.isPrivate ? "private" : "public") + "</tr>\n"
            }
            b += "</tbody>\n</table>\n</div>\n"
        }
        b += "<p class=\"meta\">As JSON: <a href=\"\(e(CatalogueURL.projectsAPI))\">\(e(CatalogueURL.projectsAPI))</a></p>\n"
        return page(title: "Projects", crumbs: [], body: b)
    }

    /// `/_/<p>/`: versions with their sizes and downloads, then aliases.
    static func versions(_ list: CatalogueAPI.VersionList) -> [UInt8] {
        let p = list.project
        var b = ""
        if let d = list.defaultVersion {
            b += "<p><a href=\"\(e(CatalogueURL.site(p)))\">Open the documentation</a> (default version \(e(d))).</p>\n"
        }
        b += """
            <div class="wrap" role="region" aria-labelledby="t-versions" tabindex="0">
            <table>
            <caption id="t-versions">\(list.versions.count) version\(list.versions.count == 1 ? "" : "s")</caption>
            <thead><tr><th scope="col">Version</th><th scope="col">Built</th><th scope="col">Files</th><th scope="col">Size</th>
            <th scope="col">Stored</th><th scope="col">Shared with other versions</th><th scope="col">Downloads</th><th scope="col">Changes</th></tr></thead>
            <tbody>\n
            """
        for v in list.versions {
            let aliases = v.aliases.isEmpty ? "" : " <span class=\"alias\">(" + v.aliases.map(e).joined(separator: ", ") + ")</span>"
            var downloads: [String] = []
            for m in v.media {
                // A part of a few files (pdf, epub, htmlzip) is linked file by file; json/ (a file per page) is counted.
                guard m.files <= CataloguePages.linkedDownloads else {
                    if !m.downloads.isEmpty { downloads.append("<span class=\"meta\">\(e(m.name)): \(m.files) files</span>") }
                    continue
                }
                for d in m.downloads {
                    let name = d.path.split(separator: "/").last.map(String.init) ?? d.path
                    downloads.append("<a href=\"\(e(d.url))\">\(e(m.name)): \(e(name))</a> <span class=\"meta\">\(bytes(d.size))</span>")
                }
            }
            var changes = "–"
            if let d = list.defaultVersion, d != v.name {
                changes = "<a href=\"\(e(CatalogueURL.diffPage(p, base: d, head: v.name)))\">since \(e(d))</a>"
            }
            b += "<tr><th scope=\"row\"><a href=\"\(e(v.siteUrl))\">\(e(v.name))</a>\(aliases)</th>"
                + td("Built", "<time datetime=\"\(e(v.buildTime))\">\(e(shortTime(v.buildTime)))</time>")
                + td("Files", "\(v.files)", number: true) + td("Size", bytes(v.bytes), number: true)
                + td("Stored", bytes(v.storedBytes), number: true) + td("Shared", percent(v.dedupShare), number: true)
                + td("Downloads", downloads.isEmpty ? "–" : downloads.joined(separator: "<br>")) + td("Changes", changes) + "</tr>\n"
        }
        b += "</tbody>\n</table>\n</div>\n"
        if !list.aliases.isEmpty {
            b += """
                <h2 id="aliases">Aliases</h2>
                <div class="wrap" role="region" aria-labelledby="aliases" tabindex="0">
                <table>
                <thead><tr><th scope="col">Alias</th><th scope="col">Version</th><th scope="col">Set</th></tr></thead>
                <tbody>\n
                """
            for a in list.aliases {
                b += "<tr><th scope=\"row\"><a href=\"\(e(CatalogueURL.site(p, a.name)))\">\(e(a.name))</a></th>"
                    + td("Version", e(a.version)) + td("Set", "<time datetime=\"\(e(a.updated))\">\(e(shortTime(a.updated)))</time>") + "</tr>\n"
            }
            b += "</tbody>\n</table>\n</div>\n"
        }
        b += "<p class=\"meta\">Stored: compressed bytes of the distinct chunks a version references. Shared: the part of them another "
            + "version of this project references too (stored once). As JSON: <a href=\"\(e(CatalogueURL.versionsAPI(p)))\">\(e(CatalogueURL.versionsAPI(p)))</a></p>\n"
        return page(title: p, crumbs: [], body: b)
    }

    /// `/_/<p>/diff/<base>...<head>`: counts, then the changed pages with links to both versions.
    static func diff(_ d: CatalogueAPI.Diff) -> [UInt8] {
        let p = d.project
        let main = d.modified.filter { $0.mainContentChanged == true }.count
        let chrome = d.modified.filter { $0.mainContentChanged == false }.count
        let unknown = d.modified.count - main - chrome
        var b = """
            <p>From <a href="\(e(d.base.siteUrl))">\(e(d.base.version))</a> to <a href="\(e(d.head.siteUrl))">\(e(d.head.version))</a>:
            \(d.modified.count) modified (\(main) with changed main content, \(chrome) only around it, \(unknown) not HTML or not known),
            \(d.added.count) added, \(d.deleted.count) deleted, \(d.renamed.count) renamed.</p>\n
            """
        if let why = d.mainContentNote {
            b += "<p>Main content not compared: \(e(why)). Pages are compared by their whole bytes.</p>\n"
        }
        // Link text is the version; the path follows for screen readers, whose link lists lose the row.
        func link(_ url: String?, _ text: String, _ path: String) -> String {
            url.map { "<a href=\"\(e($0))\">\(e(text))<span class=\"vh\"> of \(e(path))</span></a>" } ?? "<span class=\"meta\">not served</span>"
        }
        func section(_ id: String, _ title: String, _ count: Int, _ head: String, _ rows: [String]) {
            guard count > 0 else { return }
            b += """
                <h2 id="\(id)">\(title) (\(count))</h2>
                <div class="wrap" role="region" aria-labelledby="\(id)" tabindex="0">
                <table>
                <thead><tr>\(head)</tr></thead>
                <tbody>\n
                """
            b += rows.joined()
            b += "</tbody>\n</table>\n</div>\n"
        }
        let bv = d.base.version, hv = d.head.version
        // Pages whose main content changed first: they are what a reviewer wants to read.
        let modified = d.modified.filter { $0.mainContentChanged == true } + d.modified.filter { $0.mainContentChanged != true }
        section("modified", "Modified", d.modified.count,
                "<th scope=\"col\">Path</th><th scope=\"col\">Main content</th><th scope=\"col\">\(e(bv))</th><th scope=\"col\">\(e(hv))</th>",
                modified.map { m in
                    let what = m.mainContentChanged.map { $0 ? "<strong>changed</strong>" : "unchanged" } ?? "–"
                    return "<tr><th scope=\"row\">\(e(m.path))</th>" + td("Main content", what) + td(bv, link(m.baseUrl, bv, m.path))
                        + td(hv, link(m.headUrl, hv, m.path)) + "</tr>\n"
                })
        section("added", "Added", d.added.count, "<th scope=\"col\">Path</th><th scope=\"col\">\(e(hv))</th>",
                d.added.map { "<tr><th scope=\"row\">\(e($0.path))</th>" + td(hv, link($0.url, hv, $0.path)) + "</tr>\n" })
        section("deleted", "Deleted", d.deleted.count, "<th scope=\"col\">Path</th><th scope=\"col\">\(e(bv))</th>",
                d.deleted.map { "<tr><th scope=\"row\">\(e($0.path))</th>" + td(bv, link($0.url, bv, $0.path)) + "</tr>\n" })
        section("renamed", "Renamed", d.renamed.count,
                "<th scope=\"col\">From</th><th scope=\"col\">To</th><th scope=\"col\">\(e(bv))</th><th scope=\"col\">\(e(hv))</th>",
                d.renamed.map { r in
                    "<tr><th scope=\"row\">\(e(r.from))</th>" + td("To", e(r.to)) + td(bv, link(r.baseUrl, bv, r.from)) + td(hv, link(r.headUrl, hv, r.to)) + "</tr>\n"
                })
        if d.modified.isEmpty && d.added.isEmpty && d.deleted.isEmpty && d.renamed.isEmpty {
            b += "<p>The two versions hold the same files.</p>\n"
        }
        let api = CatalogueURL.diffAPI(p, base: bv, head: hv)
        b += "<p class=\"meta\">As JSON: <a href=\"\(e(api))\">\(e(api))</a></p>\n"
        return page(title: "\(p): \(bv) → \(hv)", crumbs: [(CatalogueURL.project(p), p)], body: b)
    }

    // MARK: Layout

    static let css = """
        :root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#5a5a5a;--line:#d0d0d0;--link:#0b57d0;--head:#f3f4f6}
        @media (prefers-color-scheme:dark){:root{--fg:#e8e8e8;--bg:#161616;--muted:#a8a8a8;--line:#3a3a3a;--link:#8ab4f8;--head:#222}}
        *{box-sizing:border-box}
        body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
        header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
        header{padding-top:1rem}
        header nav ol{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.25rem}
        header nav li+li::before{content:"/";margin-right:.25rem;color:var(--muted)}
        h1{font-size:1.6rem;margin:.5rem 0 1rem;overflow-wrap:anywhere}
        h2{font-size:1.2rem;margin-top:2rem}
        a{color:var(--link)}
        a:focus-visible,.wrap:focus-visible,.skip:focus{outline:3px solid var(--link);outline-offset:2px}
        .skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:var(--bg);padding:.25rem .5rem}
        .wrap{overflow-x:auto;margin:0 0 1rem}
        .vh{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
        table{border-collapse:collapse;width:100%}
        caption{text-align:left;font-weight:600;padding:.25rem 0}
        th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
        thead th{background:var(--head);white-space:nowrap}
        tbody th{font-weight:600;overflow-wrap:anywhere}
        td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
        .meta,.alias{color:var(--muted);font-size:.9rem}
        footer{color:var(--muted);font-size:.85rem;padding:2rem 1rem}
        @media (max-width:40rem){h1{font-size:1.3rem}body{font-size:15px}
        thead{position:absolute;left:-9999px}tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
        th,td{display:block;border:0;padding:.1rem .2rem}td.n{text-align:left}
        td::before{content:attr(data-label) ": ";color:var(--muted)}}
        """

    /// The page around `body`: skip link, banner with breadcrumbs (after "Projects"), main, footer.
    static func page(title: String, crumbs: [(url: String, text: String)], body: String) -> [UInt8] {
        var nav = "<li><a href=\"\(e(CatalogueURL.catalogue))\">Projects</a></li>"
        for c in crumbs { nav += "<li><a href=\"\(e(c.url))\">\(e(c.text))</a></li>" }
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(title)) · Trove</title>
            <style>\(css)</style>
            </head>
            <body>
            <a class="skip" href="#content">Skip to content</a>
            <header><nav aria-label="Breadcrumb"><ol>\(nav)</ol></nav></header>
            <main id="content">
            <h1>\(e(title))</h1>
            \(body)</main>
            <footer>Served by trove · <a href="\(e(CatalogueURL.catalogue))">all projects</a></footer>
            </body>
            </html>\n
            """
        return Array(html.utf8)
    }

    static func e(_ s: String) -> String { MarkupEscaping.escape(s) }

    /// Parts of at most this many files get a download link per file on the versions page.
    static let linkedDownloads = 5

    /// A cell; `label` (escaped here) names its column where narrow screens stack the row's cells.
    static func td(_ label: String, _ html: String, number: Bool = false) -> String {
        "<td\(number ? " class=\"n\"" : "") data-label=\"\(e(label))\">\(html)</td>"
    }

    /// Bytes for people: B, KiB, MiB, GiB with one decimal.
    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        var v = Double(n), unit = 0
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        while v >= 1024 && unit < units.count - 1 { v /= 1024; unit += 1 }
        return String(format: "%.1f", v) + " " + units[unit]
    }

    static func percent(_ share: Double) -> String { String(format: "%.1f %%", share * 100) }

    /// `2026-12-04T13:50:41Z` as `2026-12-04 13:50 UTC` (the full value stays in `datetime`).
    static func shortTime(_ iso: String) -> String {
        let u = Array(iso.utf8)
        guard u.count >= 16, u[10] == UInt8(ascii: "T") else { return iso }
        return String(decoding: u[0..<10], as: UTF8.self) + " " + String(decoding: u[11..<16], as: UTF8.self) + " UTC"
    }
}
