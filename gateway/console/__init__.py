"""The operator console: accounts, sessions, audit log and the summary figures it shows."""
