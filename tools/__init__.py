"""The command-line tools. Each runs as ``python tools/<name>.py``; tests import them as ``tools.<name>``."""
