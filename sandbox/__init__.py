"""Docker sandbox that executes untrusted generated code and returns verdicts."""
