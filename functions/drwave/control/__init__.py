"""The control plane: the operations behind the REST API, direct invocation and the CLI (one code path)."""
