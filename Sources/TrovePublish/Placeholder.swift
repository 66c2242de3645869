// TrovePublish
