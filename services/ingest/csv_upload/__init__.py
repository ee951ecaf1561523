"""CSV upload: a tenant's interactions or items file, streamed, validated in chunks with
pandera, valid rows merged into the tenant's Delta table, invalid rows quarantined."""
