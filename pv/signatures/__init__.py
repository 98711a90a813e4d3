"""Electronic signatures (21 CFR Part 11 §11.50, §11.70, §11.200)."""
