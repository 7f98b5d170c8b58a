"""`python -m assets.app`: the `profilesync` command line, for when the console script is not on PATH."""

from assets.app.cli import main

main()
