"""Erasure and portability requests: the state machine, its queries, dispatch, receipts."""
