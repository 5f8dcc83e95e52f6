"""The ``atom`` command: thin front door onto the library (see ``atom_sdk.cli.main``)."""
