"""KiT platform plumbing: configuration, embedded servers, outbox relay, tracked consumers, CLI."""
