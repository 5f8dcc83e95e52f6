"""``python -m atom_sdk`` is the same as the ``atom`` command."""

from atom_sdk.cli.main import main

if __name__ == "__main__":
    main()
