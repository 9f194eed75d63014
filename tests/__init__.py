"""The test suite: a package whose folders mirror the folders they test (see tests/README.md)."""
