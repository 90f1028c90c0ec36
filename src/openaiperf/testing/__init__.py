"""Test helpers shipped with the package (a stub OpenAI-compatible server)."""
