"""The sources a pull job reads: files dropped in the lake or a folder, HTTP APIs, Postgres."""
