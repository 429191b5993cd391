"""protocols stage."""
