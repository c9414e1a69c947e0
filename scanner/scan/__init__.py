"""One scan: the frozen plan, the worker pool and the checker, running it here,
in worker processes or on Dask, and the checks beside it (zone owners,
authoritative servers, the probe before the first target).
"""
