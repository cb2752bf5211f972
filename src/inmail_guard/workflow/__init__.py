"""Tools for people who own policies: test suites, explain, diff, replay and mass-check (qa).

Each module does one job and returns plain data; rendering (rich tables, Markdown, JUnit XML)
is kept apart from the computing, so the CLI, tests and other tools share the same results.
"""
