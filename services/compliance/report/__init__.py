"""The daily compliance report."""
