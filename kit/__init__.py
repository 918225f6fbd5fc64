"""KiT platform plumbing: service declarations and what derives from them, the command runtime,
ordered consumers, the gateway, stores, the outbox relay, streams, vault cryptography, keys,
embedded servers. It imports nothing from the layers above it."""
