"""The HTTP API the LLM system calls."""
