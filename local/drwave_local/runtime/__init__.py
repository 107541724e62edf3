"""The embedded runtime: virtual clock, template reader, event router, moto patches, workflow bridge, LocalRuntime."""
