"""``python -m dyncore``: the same as the ``dyncore`` console script."""

from dyncore.cli import main

main()
