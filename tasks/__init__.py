"""Tasks: one module per benchmark, each registering itself with @register_task."""
