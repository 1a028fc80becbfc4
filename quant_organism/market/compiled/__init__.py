"""Compiled kernels (numba): the domain modules beside this package call them; only this room imports numba."""
