"""Retention: policies, and the runs that delete what is past them."""
