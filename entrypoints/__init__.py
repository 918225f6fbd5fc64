"""The entry points: the `kit` command, the demo, the benchmarks. They sit above everything they use."""
