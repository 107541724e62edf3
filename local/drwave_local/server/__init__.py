"""The local server behind `drwave serve`: the REST API, direct invocation and the engine on an accelerated clock."""
