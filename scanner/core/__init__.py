"""The pure core: addresses, verdicts, settings and the shapes of the outputs.

No module here does I/O or loads an I/O library (asyncio, anyio, c-ares,
dnspython, file writers): each is a function of its inputs, usable and
testable without a network or an event loop. `tests/test_layers.py` imports
every module of this folder and checks it.
"""
