"""The daily consent backup: the whole ledger, gzipped JSON in the lake."""
