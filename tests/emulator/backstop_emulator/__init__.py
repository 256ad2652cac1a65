"""Backstop local AWS emulator (moto server, extended)."""
