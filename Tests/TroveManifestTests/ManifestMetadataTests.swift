import Foundation
import Testing
import TroveContent
@testable import TroveManifest

/// The `meta` table's main-content selector list: written, read back, and what older manifests mean.
@Suite struct ManifestMetadataTests {
    func roundTrip(_ m: ManifestMetadata) throws -> ManifestMetadata {
        try ManifestMetadata(keyValues: Dictionary(uniqueKeysWithValues: m.keyValues))
    }

    func meta() -> ManifestMetadata {
        ManifestMetadata(project: "p", version: "v", buildTime: "2026-01-01T00:00:00Z", toolVersion: "t", chunker: .default, dictionary: nil)
    }

    @Test func selectorListsReadBack() throws {
        #expect(try roundTrip(meta()).mainContentSelectors == MainContentSelectors.standard.description)
        var custom = meta()
        custom.mainContentSelectors = "[role=main], #yui-main"
        #expect(try roundTrip(custom).mainContentSelectors == "[role=main], #yui-main")
        var none = meta()
        none.mainContentSelectors = nil
        let back = try roundTrip(none)
        #expect(back.mainContentSelectors == nil && !back.hasMainContentDigests && back.hasMainDigestColumn)
    }

    @Test func olderManifests() throws {
        var kv = Dictionary(uniqueKeysWithValues: meta().keyValues)
        // Format 2 from before the setting: digests were taken with the default list.
        kv["main_content_selectors"] = nil
        #expect(try ManifestMetadata(keyValues: kv).mainContentSelectors == MainContentSelectors.standard.description)
        // Format 1: no main digests at all, whatever the meta table says.
        kv["format_version"] = "1"
        let one = try ManifestMetadata(keyValues: kv)
        #expect(one.mainContentSelectors == nil && !one.hasMainDigestColumn)
        var old = meta()
        old.formatVersion = 1
        #expect(old.keyValues.first { $0.0 == "main_content_selectors" } == nil)
    }
}
