"""Blinded studies: who may see the treatment arms (policy), and unblinding (service)."""
