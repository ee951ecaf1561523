"""The risk service's stores in the erasure and portability registry."""
