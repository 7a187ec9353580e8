"""Custom ``bcs job ...`` command forms (progress bar for ``bcs job wait``); see ``bcs.cli.command``.

Filled in by the client work (issue 4); until then the generated forms are used.
"""
