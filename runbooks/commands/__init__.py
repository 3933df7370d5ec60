"""irctl command modules; see `runbooks.cli` for how to add one."""
