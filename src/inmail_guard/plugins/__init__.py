"""Everything pluggable: the hook specifications, the manager, and the built-in plugins."""
