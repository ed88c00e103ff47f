"""Scoring whole portfolios from files, with the same compiled model the service serves."""
