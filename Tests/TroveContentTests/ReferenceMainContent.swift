import Foundation

/// The first main-content scanner (stop 18), kept as a test oracle: a straightforward tag-by-tag
/// parse of every tag's attributes, for the standard selector list. `MainContent`'s faster scanner
/// must agree with it on every page without a `<` inside an attribute value of a tag it skips.
enum ReferenceMainContent {
    /// The byte range of the main content of `html`.
    static func range(in html: UnsafeRawBufferPointer) -> Range<Int> {
        guard let base = html.baseAddress?.assumingMemoryBound(to: UInt8.self), html.count > 0 else { return 0..<0 }
        var scanner = Scanner(p: base, n: html.count)
        return scanner.run()
    }

    /// One selector's first match: where its start tag began, the (hashed) tag name, its open depth,
    /// and where its end tag ended once found.
    struct Candidate {
        var start = -1
        var name: UInt64 = 0
        var depth = 0
        var end = -1
        var found: Bool { start >= 0 }
        var open: Bool { start >= 0 && end < 0 }
    }

    struct Scanner {
        let p: UnsafePointer<UInt8>
        let n: Int
        /// [role=main], main, div.body, article, body.
        var c = (Candidate(), Candidate(), Candidate(), Candidate(), Candidate())
        /// Where `</body` began, for elements left open.
        var bodyEnd = -1

        static let body = name("body"), main = name("main"), div = name("div"), article = name("article")
        static let script = name("script"), style = name("style")

        /// FNV-1a of a lowercase ASCII tag name (what tags are compared by).
        static func name(_ s: StaticString) -> UInt64 {
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            for i in 0..<s.utf8CodeUnitCount { h = (h ^ UInt64(s.utf8Start[i])) &* 0x100_0000_01b3 }
            return h
        }

        @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        @inline(__always) static func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0C || b == 0x0D }

        /// The index of the next `byte` at or after `i`, or `n`.
        @inline(__always) func find(_ byte: UInt8, from i: Int) -> Int {
            guard i < n, let q = memchr(p + i, Int32(byte), n - i) else { return n }
            return UnsafePointer<UInt8>(q.assumingMemoryBound(to: UInt8.self)) - p
        }

        /// Whether `p[i...]` starts with lowercase `s`, compared ASCII case-insensitively.
        @inline(__always) func matches(_ s: StaticString, at i: Int) -> Bool {
            let k = s.utf8CodeUnitCount
            guard i + k <= n else { return false }
            for j in 0..<k where Scanner.lower(p[i + j]) != s.utf8Start[j] { return false }
            return true
        }

        mutating func run() -> Range<Int> {
            var i = 0
            while i < n {
                let lt = find(0x3C, from: i) // '<'
                if lt + 1 >= n { break }
                let b = p[lt + 1]
                if b == 0x21 { // '!': comment, doctype, CDATA
                    if matches("<!--", at: lt) {
                        i = endOfComment(from: lt + 4)
                    } else {
                        i = find(0x3E, from: lt + 2) + 1
                    }
                } else if b == 0x3F { // '?': processing instruction
                    i = find(0x3E, from: lt + 2) + 1
                } else if b == 0x2F { // '/': end tag
                    i = endTag(at: lt)
                } else if Scanner.letter(b) {
                    i = startTag(at: lt)
                } else {
                    i = lt + 1 // a lone '<' in text
                }
                if c.0.found && !c.0.open { break } // the best selector matched and closed: done
            }
            for k in 0..<4 {
                let x = candidate(k)
                if x.found { return x.start..<(x.end >= 0 ? x.end : (bodyEnd > x.start ? bodyEnd : n)) }
            }
            if c.4.found { return c.4.start..<(c.4.end >= 0 ? c.4.end : n) }
            return 0..<n
        }

        @inline(__always) static func letter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }

        func candidate(_ k: Int) -> Candidate {
            switch k { case 0: c.0; case 1: c.1; case 2: c.2; case 3: c.3; default: c.4 }
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
            if name == Scanner.body && bodyEnd < 0 { bodyEnd = lt }
            func close(_ x: inout Candidate) {
                if x.open && x.name == name {
                    x.depth -= 1
                    if x.depth == 0 { x.end = after }
                }
            }
            close(&c.0); close(&c.1); close(&c.2); close(&c.3); close(&c.4)
            return after
        }

        /// `<name attrs>`: parses attributes (quoted values may hold `>`), counts nesting for open
        /// candidates of that name, starts the candidates it is the first match of, and skips the
        /// content of `<script>` and `<style>`.
        mutating func startTag(at lt: Int) -> Int {
            let (name, nameEnd) = tagName(at: lt + 1)
            var roleMain = false, classBody = false
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
                // Attribute name.
                let attrStart = j
                while j < n, !Scanner.space(p[j]), p[j] != 0x3E, p[j] != 0x3D, p[j] != 0x2F { j += 1 }
                let attrLen = j - attrStart
                while j < n && Scanner.space(p[j]) { j += 1 }
                guard j < n, p[j] == 0x3D else { continue } // no value
                j += 1
                while j < n && Scanner.space(p[j]) { j += 1 }
                guard j < n else { break }
                var vs = j, ve: Int
                if p[j] == 0x22 || p[j] == 0x27 { // quoted
                    vs = j + 1
                    ve = find(p[j], from: vs)
                    j = min(ve + 1, n)
                } else {
                    while j < n, !Scanner.space(p[j]), p[j] != 0x3E { j += 1 }
                    ve = j
                }
                if attrLen == 4 && matches("role", at: attrStart) {
                    roleMain = roleMain || (ve - vs == 4 && matches("main", at: vs))
                } else if attrLen == 5 && matches("class", at: attrStart) {
                    classBody = classBody || hasToken("body", from: vs, to: ve)
                }
            }
            let after = min(j + 1, n)
            if !selfClosing {
                func nest(_ x: inout Candidate) { if x.open && x.name == name { x.depth += 1 } }
                nest(&c.0); nest(&c.1); nest(&c.2); nest(&c.3); nest(&c.4)
            }
            func begin(_ x: inout Candidate) {
                guard !x.found else { return }
                x.start = lt
                x.name = name
                if selfClosing { x.end = after } else { x.depth = 1 }
            }
            if roleMain { begin(&c.0) }
            if name == Scanner.main { begin(&c.1) }
            if classBody && name == Scanner.div { begin(&c.2) }
            if name == Scanner.article { begin(&c.3) }
            if name == Scanner.body { begin(&c.4) }
            if !selfClosing && (name == Scanner.script || name == Scanner.style) {
                return skipRawText(from: after, script: name == Scanner.script)
            }
            return after
        }

        /// Whether the class list in `p[from..<to]` holds the token `t` (lowercase; case-insensitive).
        func hasToken(_ t: StaticString, from: Int, to: Int) -> Bool {
            let k = t.utf8CodeUnitCount
            var i = from
            while i < to {
                while i < to && Scanner.space(p[i]) { i += 1 }
                let s = i
                while i < to && !Scanner.space(p[i]) { i += 1 }
                if i - s == k && matches(t, at: s) { return true }
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
