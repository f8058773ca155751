"""Detection core: events in, profiles updated, risk out. Pure: no I/O, no wall clock."""
