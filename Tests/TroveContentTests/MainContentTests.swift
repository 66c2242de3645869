import Foundation
import Testing
import TroveContent

/// `MainContent`: which bytes of a page count as its main content.
@Suite struct MainContentTests {
    /// The main content of `html`, as text.
    func main(_ html: String) -> String {
        let bytes = Array(html.utf8)
        let r = bytes.withUnsafeBytes { MainContent.range(in: $0) }
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
        #expect(main(#"<body><div data-x='role="main"'>no</div><p ROLE=main>yes</p></body>"#) == "<p ROLE=main>yes</p>")
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
}
