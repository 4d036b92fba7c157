"""Built-in problems, one module per family.

Importing this package imports none of them: ``optbench.catalog`` declares every
built-in problem by name, and a family's module is imported (and its problems
registered) when one of its names is first used.
"""
