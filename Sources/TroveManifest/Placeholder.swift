// TroveManifest
