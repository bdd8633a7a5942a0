"""nfbench harness: CLI, config, registries, run store, metrics (torch-free except where noted)."""
