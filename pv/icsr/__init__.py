"""Individual case safety reports: the case, the CIOMS I form and the E2B(R3) ICSR."""
