import CLibc
import Foundation

/// Finds an HTML page's main content, so a diff can tell an edited page from one whose chrome (footer
/// date, sidebar, navigation) changed: the first match, in selector-list order (`MainContentSelectors`;
/// by default `[role=main]`, `main`, `div.body`, `article`), from the element's start tag through its
/// matching end tag; the whole `<body>` element when none matches, the whole file when there is no
/// `<body>` either.
///
/// One pass over a raw buffer (no regex, no DOM), built to cost a cold publish nothing measurable:
/// it jumps from `<` to `<` with `memchr` and looks only at the tags whose first two letters could
/// matter (the selectors' tag names, `body`, `script`, `style`, the open candidates' names; `<!--`),
/// parsing those fully (quoted attribute values, `<x/>`); a selector without a tag name is found by
/// searching for its attribute name, id or class with `memmem`, then parsing the tag around each hit.
/// Comments and `<script>`/`<style>` content are skipped. Malformed HTML never fails: an element left
/// open runs to the start of `</body>` (or the end of the file); nesting is counted per tag name.
public enum MainContent {
    /// The byte range of the main content of `html`.
    public static func range(in html: UnsafeRawBufferPointer, selectors: MainContentSelectors = .standard) -> Range<Int> {
        guard let base = html.baseAddress?.assumingMemoryBound(to: UInt8.self), html.count > 0 else { return 0..<0 }
        var scanner = Scanner(p: base, n: html.count, selectors: selectors.selectors)
        defer { scanner.release() }
        return scanner.run()
    }

    /// SHA-256 of the main content of `html` (`range(in:selectors:)`).
    public static func digest(of html: UnsafeRawBufferPointer, selectors: MainContentSelectors = .standard) -> Digest {
        let r = range(in: html, selectors: selectors)
        return Digest.sha256(UnsafeRawBufferPointer(rebasing: html[r]))
    }

    /// Whether a path names an HTML page (`.html`, `.htm`, any case).
    public static func isHTML(_ path: String) -> Bool {
        let u = path.utf8
        func ends(_ s: StaticString) -> Bool {
            let n = s.utf8CodeUnitCount
            guard u.count > n else { return false }
            return zip(u.suffix(n), UnsafeBufferPointer(start: s.utf8Start, count: n)).allSatisfy { $0 | 0x20 == $1 }
        }
        return ends(".html") || ends(".htm")
    }

    /// One selector's (or `<body>`'s) first match: where its start tag began, its tag name (hashed,
    /// and its first two letters for the event table), its open depth, and where its end tag ended.
    struct Candidate {
        var start = -1
        var name: UInt64 = 0
        var first: UInt8 = 0
        var second: UInt32 = 0
        var depth = 0
        var end = -1
        var found: Bool { start >= 0 }
        var open: Bool { start >= 0 && end < 0 }
    }

    /// A searched-for string of a selector without a tag name, and its next occurrence.
    struct Needle {
        let selector: Int
        let bytes: [UInt8]
        /// Position of the next occurrence at or after `from`, or `n`.
        var hit: Int
        var from: Int
    }

    /// An attribute of the tag being parsed (value range `vs..<ve`, `vs < 0` when it has none).
    struct Attribute { var ns = 0, nl = 0, vs = -1, ve = -1 }

    struct Scanner {
        let p: UnsafePointer<UInt8>
        let n: Int
        let selectors: [MainContentSelectors.Selector]
        let tagHashes: [UInt64?]
        /// The selectors' candidates, then `<body>`'s.
        var c: [Candidate]
        var body: Int { selectors.count }
        /// The index of the highest-priority selector found so far (selectors after it no longer matter).
        var best = Int.max
        /// Where `</body` began, for elements left open.
        var bodyEnd = -1
        /// For each lowercase first byte of a tag name, the second bytes (`key`) whose tags must be seen.
        let events: UnsafeMutablePointer<UInt32>
        var needles: [Needle] = []
        /// The attributes of the tag `startTag` is parsing (at most `maxAttributes`; further ones ignored).
        let attrs: UnsafeMutablePointer<Attribute>
        static let maxAttributes = 64
        /// The `<` of the last start tag skipped without parsing: a needle found before the next `<`
        /// may lie inside it.
        var skipped = -1

        static let bodyName = name("body"), script = name("script"), style = name("style")
        static let classAttr = Array("class".utf8), idAttr = Array("id".utf8)

        init(p: UnsafePointer<UInt8>, n: Int, selectors: [MainContentSelectors.Selector]) {
            self.p = p
            self.n = n
            self.selectors = selectors
            tagHashes = selectors.map { $0.tag.map(Scanner.name) }
            c = Array(repeating: Candidate(), count: selectors.count + 1)
            events = .allocate(capacity: 256)
            attrs = .allocate(capacity: Scanner.maxAttributes)
            rebuildEvents()
        }

        func release() {
            events.deallocate()
            attrs.deallocate()
        }

        /// FNV-1a of a lowercase ASCII tag name (what tags are compared by).
        static func name(_ s: StaticString) -> UInt64 {
            name(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
        }

        static func name<C: Collection<UInt8>>(_ s: C) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in s { h = (h ^ UInt64(lower(b))) &* 0x100_0000_01b3 }
            return h
        }

        @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        @inline(__always) static func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }
        @inline(__always) static func letter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
        /// The event-table bit of a tag name's second byte: its letter (a = 1 … z = 26), or 0 for
        /// anything else (a digit, or the end of a one-letter name).
        @inline(__always) static func key(_ b: UInt8) -> UInt32 { letter(b) ? 1 << UInt32((b | 0x20) &- 0x60) : 1 }

        /// Whether the tag name starting at `j` is one the scan must parse.
        @inline(__always) func isEvent(_ j: Int) -> Bool {
            events[Int(Scanner.lower(p[j]))] & Scanner.key(j + 1 < n ? p[j + 1] : 0x20) != 0
        }

        mutating func addEvent(_ name: [UInt8]) {
            events[Int(Scanner.lower(name[0]))] |= Scanner.key(name.count > 1 ? name[1] : 0x20)
        }

        /// The tags and needles that still matter: `body`, `script`, `style`, every open candidate's
        /// name, and the selectors before the best one found that are not found yet.
        mutating func rebuildEvents() {
            events.initialize(repeating: 0, count: 256)
            addEvent(Array("body".utf8)); addEvent(Array("script".utf8)); addEvent(Array("style".utf8))
            for x in c where x.open { events[Int(x.first)] |= x.second }
            var keep: [Needle] = []
            for s in 0..<min(best, selectors.count) where !c[s].found {
                if let t = selectors[s].tag {
                    addEvent(t)
                } else if let bytes = selectors[s].needle {
                    keep.append(needles.first { $0.selector == s } ?? Needle(selector: s, bytes: bytes, hit: -1, from: 0))
                }
            }
            needles = keep
        }

        /// The index of the next `byte` at or after `i`, or `n`.
        @inline(__always) func find(_ byte: UInt8, from i: Int) -> Int {
            guard i < n, let q = memchr(p + i, Int32(byte), n - i) else { return n }
            return UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
        }

        /// The next needle occurrence at or after `i` (`n` when none): needles are searched lazily.
        mutating func nextNeedle(from i: Int) -> Int {
            var next = n
            for k in needles.indices {
                if needles[k].hit < i {
                    let from = max(i, needles[k].from)
                    needles[k].hit = needles[k].bytes.withUnsafeBytes { nb in
                        guard from < n, let q = memmem(p + from, n - from, nb.baseAddress, nb.count) else { return n }
                        return UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
                    }
                }
                next = min(next, needles[k].hit)
            }
            return next
        }

        /// Whether `p[i...]` starts with lowercase `s`, compared ASCII case-insensitively.
        @inline(__always) func matches(_ s: StaticString, at i: Int) -> Bool {
            matches(UnsafeBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount), at: i, length: s.utf8CodeUnitCount)
        }

        /// Whether `p[i..<i+length]` equals `s`, compared ASCII case-insensitively.
        @inline(__always) func matches<C: Collection<UInt8>>(_ s: C, at i: Int, length: Int) -> Bool {
            guard s.count == length, i + length <= n else { return false }
            var j = i
            for b in s {
                if Scanner.lower(p[j]) != Scanner.lower(b) { return false }
                j += 1
            }
            return true
        }

        mutating func run() -> Range<Int> {
            var i = 0
            while i < n {
                let lt = find(0x3C, from: i) // '<'
                if !needles.isEmpty {
                    let r = nextNeedle(from: i)
                    if r < lt {
                        // In text, or inside the start tag skipped last: parse that tag to know.
                        if skipped >= 0 {
                            let tag = skipped
                            skipped = -1
                            i = max(i, startTag(at: tag))
                        }
                        for k in needles.indices where needles[k].hit == r { needles[k].from = r + 1; needles[k].hit = -1 }
                        if c[0].found && !c[0].open { break }
                        continue
                    }
                }
                if lt + 1 >= n { break }
                let b = p[lt + 1]
                if Scanner.letter(b) {
                    if isEvent(lt + 1) {
                        skipped = -1
                        i = startTag(at: lt)
                    } else {
                        skipped = lt
                        i = lt + 1
                    }
                } else if b == 0x2F { // '/': end tag
                    skipped = -1
                    i = lt + 2 < n && isEvent(lt + 2) ? endTag(at: lt) : lt + 2
                } else if b == 0x21 { // '!': comment, doctype, CDATA
                    skipped = -1
                    i = matches("<!--", at: lt) ? endOfComment(from: lt + 4) : find(0x3E, from: lt + 2) + 1
                } else {
                    i = lt + 1 // a lone '<' in text, a processing instruction
                }
                if c[0].found && !c[0].open { break } // the first selector matched and closed: done
            }
            for s in 0..<selectors.count where c[s].found {
                let x = c[s]
                return x.start..<(x.end >= 0 ? x.end : (bodyEnd > x.start ? bodyEnd : n))
            }
            let b = c[body]
            if b.found { return b.start..<(b.end >= 0 ? b.end : n) }
            return 0..<n
        }

        /// After `-->` (or the end of the file for a comment left open).
        func endOfComment(from i: Int) -> Int {
            var j = i
            while j < n {
                let gt = find(0x3E, from: j)
                if gt >= n { return n }
                if gt >= i + 2 && p[gt - 1] == 0x2D && p[gt - 2] == 0x2D { return gt + 1 }
                j = gt + 1
            }
            return n
        }

        /// Reads a tag name at `i`; returns its hash and the index after it.
        @inline(__always) func tagName(at i: Int) -> (UInt64, Int) {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            var j = i
            while j < n {
                let b = p[j]
                if Scanner.space(b) || b == 0x3E || b == 0x2F { break }
                h = (h ^ UInt64(Scanner.lower(b))) &* 0x100_0000_01b3
                j += 1
            }
            return (h, j)
        }

        /// `</name …>`: closes the open candidates of that name whose depth drops to zero.
        mutating func endTag(at lt: Int) -> Int {
            let (name, j) = tagName(at: lt + 2)
            let after = min(find(0x3E, from: j) + 1, n)
            if name == Scanner.bodyName && bodyEnd < 0 { bodyEnd = lt }
            var closed = false
            for k in c.indices where c[k].open && c[k].name == name {
                c[k].depth -= 1
                if c[k].depth == 0 { c[k].end = after; closed = true }
            }
            if closed { rebuildEvents() }
            return after
        }

        /// `<name attrs>`: parses attributes (quoted values may hold `>`), counts nesting for open
        /// candidates of that name, starts the candidates it is the first match of, and skips the
        /// content of `<script>` and `<style>`.
        mutating func startTag(at lt: Int) -> Int {
            let (name, nameEnd) = tagName(at: lt + 1)
            var count = 0
            var j = nameEnd
            var selfClosing = false
            while j < n {
                let b = p[j]
                if Scanner.space(b) { j += 1; continue }
                if b == 0x3E { break }
                if b == 0x2F { // '/'
                    if j + 1 < n && p[j + 1] == 0x3E { selfClosing = true; j += 1; break }
                    j += 1
                    continue
                }
                var a = Attribute(ns: j)
                while j < n, !Scanner.space(p[j]), p[j] != 0x3E, p[j] != 0x3D, p[j] != 0x2F { j += 1 }
                a.nl = j - a.ns
                while j < n && Scanner.space(p[j]) { j += 1 }
                if j < n, p[j] == 0x3D { // '=': a value
                    j += 1
                    while j < n && Scanner.space(p[j]) { j += 1 }
                    guard j < n else { break }
                    if p[j] == 0x22 || p[j] == 0x27 { // quoted
                        a.vs = j + 1
                        a.ve = find(p[j], from: a.vs)
                        j = min(a.ve + 1, n)
                    } else {
                        a.vs = j
                        while j < n, !Scanner.space(p[j]), p[j] != 0x3E { j += 1 }
                        a.ve = j
                    }
                }
                if count < Scanner.maxAttributes { attrs[count] = a; count += 1 }
            }
            let after = min(j + 1, n)
            if !selfClosing {
                for k in c.indices where c[k].open && c[k].name == name { c[k].depth += 1 }
            }
            var started = false
            func begin(_ k: Int) {
                guard !c[k].found else { return }
                c[k].start = lt
                c[k].name = name
                c[k].first = Scanner.lower(p[lt + 1])
                c[k].second = Scanner.key(lt + 2 < n ? p[lt + 2] : 0x20)
                if selfClosing { c[k].end = after } else { c[k].depth = 1 }
                started = true
            }
            for s in 0..<min(best, selectors.count) where !c[s].found && matches(s, name: name, attributes: count) {
                begin(s)
                best = s
                break
            }
            if name == Scanner.bodyName { begin(body) }
            if started { rebuildEvents() }
            if !selfClosing && (name == Scanner.script || name == Scanner.style) {
                return skipRawText(from: after, script: name == Scanner.script)
            }
            return after
        }

        /// Whether the tag just parsed (`name`, `attrs[0..<count]`) matches selector `s`.
        func matches(_ s: Int, name: UInt64, attributes count: Int) -> Bool {
            if let t = tagHashes[s], t != name { return false }
            let sel = selectors[s]
            func value(_ attribute: [UInt8]) -> (Int, Int)? {
                for k in 0..<count where matches(attribute, at: attrs[k].ns, length: attrs[k].nl) {
                    return attrs[k].vs >= 0 ? (attrs[k].vs, attrs[k].ve) : (0, 0)
                }
                return nil
            }
            if let id = sel.id {
                guard let (vs, ve) = value(Scanner.idAttr), matches(id, at: vs, length: ve - vs) else { return false }
            }
            if !sel.classes.isEmpty {
                guard let (vs, ve) = value(Scanner.classAttr) else { return false }
                for cls in sel.classes where !hasToken(cls, from: vs, to: ve) { return false }
            }
            for a in sel.attributes {
                guard let (vs, ve) = value(a.name) else { return false }
                if let v = a.value, !matches(v, at: vs, length: ve - vs) { return false }
            }
            return true
        }

        /// Whether the space-separated list in `p[from..<to]` holds the token `t` (case-insensitive).
        func hasToken(_ t: [UInt8], from: Int, to: Int) -> Bool {
            var i = from
            while i < to {
                while i < to && Scanner.space(p[i]) { i += 1 }
                let s = i
                while i < to && !Scanner.space(p[i]) { i += 1 }
                if i > s && matches(t, at: s, length: i - s) { return true }
            }
            return false
        }

        /// The index of the `<` of `</script` (or `</style`) closing raw text starting at `i`, or `n`.
        func skipRawText(from i: Int, script: Bool) -> Int {
            var j = i
            while j < n {
                let lt = find(0x3C, from: j)
                if lt >= n { return n }
                if script ? matches("</script", at: lt) : matches("</style", at: lt) { return lt }
                j = lt + 1
            }
            return n
        }
    }
}
