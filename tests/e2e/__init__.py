"""Black-box tests: real node processes on loopback (a package, so tests import helpers from .conftest)."""
