"""The operator surface: the `drwave` entry point, its commands, the API client, progress, reports, rehearsals."""
