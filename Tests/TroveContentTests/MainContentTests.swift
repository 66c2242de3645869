import Foundation
import Testing
import TroveContent
import TroveTesting

/// `MainContent`: which bytes of a page count as its main content.
@Suite struct MainContentTests {
    /// The main content of `html`, as text.
    func main(_ html: String, _ selectors: MainContentSelectors = .standard) -> String {
        let bytes = Array(html.utf8)
        let r = bytes.withUnsafeBytes { MainContent.range(in: $0, selectors: selectors) }
        return String(decoding: bytes[r], as: UTF8.self)
    }

    @Test func sphinxBodyWithNestedDivs() {
        let page = """
        <html><head><title>x</title></head><body><div class="document"><div class="sphinxsidebar">side</div>
        <div class="body" role="main"><div class="section"><p>text</p><div>inner</div></div></div>
        <div class="footer">Last updated Dec 11</div></div></body></html>
        """
        #expect(main(page) == #"<div class="body" role="main"><div class="section"><p>text</p><div>inner</div></div></div>"#)
    }

    @Test func priorityOrderNotDocumentOrder() {
        // <main> comes first in the document, [role=main] wins by priority.
        #expect(main("<body><main>m</main><section role=main>r</section></body>") == "<section role=main>r</section>")
        #expect(main("<body><article>a</article><main>m</main></body>") == "<main>m</main>")
        #expect(main("<body><article>a</article><div class='x body'>b</div></body>") == "<div class='x body'>b</div>")
        #expect(main("<body><article>a<article>b</article>c</article>d</body>") == "<article>a<article>b</article>c</article>")
        // The class token must be exactly `body`; role must be exactly `main`.
        #expect(main("<body><div class=\"bodywrapper\">w</div><div role=\"mainly\">y</div><article>a</article></body>") == "<article>a</article>")
    }

    @Test func commentsScriptsAndStylesAreSkipped() {
        let page = """
        <body><!-- <main>not this</main> --><script>var s = "<main>nor this</main>"; if (a < b) {}</script>
        <style>main::before { content: "</main>" }</style><main><script>"</main>"</script>real</main></body>
        """
        #expect(main(page) == #"<main><script>"</main>"</script>real</main>"#)
        #expect(main("<body><!-- open comment <main>x</main></body>") == "<body><!-- open comment <main>x</main></body>")
    }

    @Test func attributeQuotingAndCase() {
        // A `>` inside a quoted value does not end the tag; names and tags match case-insensitively.
        #expect(main(#"<BODY><DIV title="a>b" CLASS='body'>x</Div></BODY>"#) == #"<DIV title="a>b" CLASS='body'>x</Div>"#)
        #expect(main(#"<body><div data-x='role="main"'>no</div><p role=MAIN>yes</p></body>"#) == "<p role=MAIN>yes</p>")
        // An attribute of a selector without a tag is searched for as HTML serialisers write it, in
        // lower case: `ROLE` on a tag no selector names is not seen (on a `div`, which `div.body`
        // makes the scanner parse, it is).
        #expect(main("<body><p ROLE=main>p</p><article>a</article></body>") == "<article>a</article>")
        #expect(main("<body><div ROLE=main>d</div><article>a</article></body>") == "<div ROLE=main>d</div>")
        #expect(main("<body><div class=body>unquoted</div></body>") == "<div class=body>unquoted</div>")
    }

    @Test func noMatchIsTheBodyOrTheFile() {
        #expect(main("<html><head><title>t</title></head><body><p>hi</p></body><!-- after --></html>") == "<body><p>hi</p></body>")
        #expect(main("just text, no tags") == "just text, no tags")
        #expect(main("") == "")
        #expect(main("<") == "<")
    }

    @Test func malformedHTML() {
        // An element left open runs to `</body>`, or to the end of the file without one.
        #expect(main("<body><main><p>open</body></html>") == "<main><p>open")
        #expect(main("<body><main><p>open") == "<main><p>open")
        #expect(main("<body><main><main>x</main></body>") == "<main><main>x</main>")
        // A stray end tag, a lone `<`, a tag cut off at the end: no crash, a sensible range.
        #expect(main("<body></div><main>a < b</main></body>") == "<main>a < b</main>")
        #expect(main("<body><main class=\"unterminated>") == "<main class=\"unterminated>")
        #expect(main("<body><main/><p>x</p></body>") == "<main/>")
    }

    @Test func chromeChangesKeepTheDigest() {
        func digest(_ s: String) -> Digest { Array(s.utf8).withUnsafeBytes { MainContent.digest(of: $0) } }
        let a = "<body><nav>v1</nav><div role=main>same</div><footer>Dec 4</footer></body>"
        let b = "<body><nav>v2</nav><div role=main>same</div><footer>Dec 11</footer></body>"
        let c = "<body><nav>v1</nav><div role=main>edited</div><footer>Dec 4</footer></body>"
        #expect(digest(a) == digest(b))
        #expect(digest(a) != digest(c))
    }

    @Test func htmlPaths() {
        #expect(MainContent.isHTML("html/index.html") && MainContent.isHTML("a/B.HTM") && MainContent.isHTML("x.Html"))
        #expect(!MainContent.isHTML("html/a.css") && !MainContent.isHTML(".html") && !MainContent.isHTML("a.xhtml.gz"))
    }

    @Test func configuredSelectors() throws {
        // Django's own theme: no documented selector matches, so the whole body would count.
        let django = """
        <body><div class="document"><div id="hd">nav</div><div id="bd"><div id="yui-main"><div class="yui-b">
        <div class="section"><h1>Title</h1><div>text</div></div></div></div><div id="sidebar">Last update: Dec 4</div></div></div></body>
        """
        let yui = try MainContentSelectors("[role=main], #yui-main")
        #expect(main(django).hasPrefix("<body>"))
        #expect(main(django, yui).hasPrefix(#"<div id="yui-main">"#) && main(django, yui).hasSuffix("</div></div></div>"))
        #expect(!main(django, yui).contains("Last update"))
        // Tag, class, id and attribute parts combine; list order is priority.
        let page = #"<body><section class="a b" data-kind=doc>s</section><div id=x class=b>d</div><p lang="en">p</p></body>"#
        #expect(main(page, try MainContentSelectors("section.b[data-kind=doc]")) == #"<section class="a b" data-kind=doc>s</section>"#)
        #expect(main(page, try MainContentSelectors("div#x.b, section")) == "<div id=x class=b>d</div>")
        #expect(main(page, try MainContentSelectors(".b")) == #"<section class="a b" data-kind=doc>s</section>"#)
        #expect(main(page, try MainContentSelectors("[lang], #x")) == #"<p lang="en">p</p>"#)
        #expect(main(page, try MainContentSelectors("[lang=fr], #y, nav")) == String(page.dropLast(0)))
        // A needle inside text or inside another attribute's value is not a match.
        #expect(main(#"<body>the yui-main id <i title="yui-main">t</i><b id="yui-main">b</b></body>"#, yui) == #"<b id="yui-main">b</b>"#)
        // A tagless selector's element nests by its own name once found.
        #expect(main("<body><section role=main><section>in</section>tail</section>after</body>") == "<section role=main><section>in</section>tail</section>")
    }

    @Test func theFirstOfDuplicatedAttributesCounts() {
        // As HTML parsers do: a repeated attribute is dropped.
        #expect(main(#"<body><nav role="navigation" role="main">n</nav><article>a</article></body>"#) == "<article>a</article>")
        #expect(main(#"<body><nav role="main" role="navigation">n</nav><article>a</article></body>"#) == #"<nav role="main" role="navigation">n</nav>"#)
    }

    @Test func selectorListParsing() throws {
        #expect(MainContentSelectors.standard.description == "[role=main], main, div.body, article")
        #expect(try MainContentSelectors(" DIV.Body ,  [ROLE = 'main'],#yui-main, a[x=\"p q\"] ").description
                == #"div.Body, [role=main], #yui-main, a[x="p q"]"#)
        #expect(try MainContentSelectors("[data-x=\"a,b\"], main").selectors.count == 2)
        for bad in ["", "div p", "div > p", "a:hover", "*", "div,", "[x", "[x=]", "#a#b", "div!"] {
            #expect(throws: MainContentSelectors.ParseError.self, "\(bad)") { try MainContentSelectors(bad) }
        }
        #expect(throws: MainContentSelectors.ParseError.self) { try MainContentSelectors(Array(repeating: "main", count: 17).joined(separator: ",")) }
        do { _ = try MainContentSelectors("div p"); Issue.record("no error") } catch {
            #expect(error.description.contains("'div p'") && error.description.contains("combinators"))
        }
    }

    /// The scanner agrees with the reference scanner (every tag parsed) on generated pages: nested
    /// elements in upper and lower case, attributes with quoted `>`, comments and scripts holding
    /// tags, the word "role" in text, elements left open, self-closing tags.
    @Test(arguments: 0..<4) func agreesWithTheReferenceScanner(part: Int) {
        var g = SplitMix(seed: 0x6d61_696e + UInt64(part))
        let tags = ["div", "span", "p", "a", "section", "main", "article", "nav", "footer", "ul", "li", "strong", "em", "h1", "DIV", "Main", "ARTICLE", "dl", "details"]
        let attrs = [#"class="body""#, #"class="x body y""#, "class=body", #"class="bodywrapper""#, #"role="main""#, "role=main",
                     #"role="navigation""#, #"role="mainly""#, #"id="yui-main""#, #"title="a>b""#, #"data-x='role="main"'"#, "hidden",
                     #"href="../x.html#role""#]
        let texts = ["text", "the role of", "a < b", "x", "<!-- <main>c</main> -->", "<script>var s = '</div><main>';</script>",
                     "<style>main::before{content:'</main>'}</style>", "<br/>", "<main/>", "<!DOCTYPE x>", "&lt;div&gt;"]
        func element(_ depth: Int) -> String {
            let t = tags[Int(g.next() % UInt64(tags.count))]
            var s = "<" + t
            var names = Set<Substring>() // HTML keeps the first of duplicated attributes; the reference took any
            for _ in 0..<Int(g.next() % 3) {
                let a = attrs[Int(g.next() % UInt64(attrs.count))]
                if names.insert(a.split(separator: "=")[0]).inserted { s += " " + a }
            }
            s += ">"
            for _ in 0..<Int(g.next() % 4) {
                s += depth < 5 && g.next() % 2 == 0 ? element(depth + 1) : texts[Int(g.next() % UInt64(texts.count))]
            }
            if g.next() % 12 != 0 { s += "</" + t + ">" } // sometimes left open
            return s
        }
        var differ: [String] = []
        var matched = 0 // pages where a selector matched (not the body or the file): the test means something
        for _ in 0..<500 {
            var page = g.next() % 8 == 0 ? "" : "<html><head><title>t</title></head><body>"
            for _ in 0..<Int(1 + g.next() % 4) { page += element(0) }
            if g.next() % 8 != 0 { page += "</body></html>" }
            let bytes = Array(page.utf8)
            let fast = bytes.withUnsafeBytes { MainContent.range(in: $0) }
            let reference = bytes.withUnsafeBytes { ReferenceMainContent.range(in: $0) }
            if fast != reference { differ.append(page) }
            if fast.lowerBound > 0 && !page.utf8[page.utf8.index(page.utf8.startIndex, offsetBy: fast.lowerBound)...].starts(with: "<body".utf8) { matched += 1 }
        }
        #expect(matched > 200, "\(matched) of 500 pages matched a selector")
        #expect(differ.isEmpty, "\(differ.count) pages differ; first: \(differ.first ?? "")")
    }
}
