"""Developer scripts: the simulated platform (`simulate`) and the end-to-end demo (`demo`)."""
