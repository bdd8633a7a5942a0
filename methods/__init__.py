"""Reasoning methods: one module (or package) per method, each registering itself with @register_method."""
