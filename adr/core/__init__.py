"""Core: errors, the typed records stages pass, time conversions, atomic files, progress, names."""
