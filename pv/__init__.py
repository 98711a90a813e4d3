"""pv-tracker: adverse-event pharmacovigilance for clinical trials."""

__version__ = "0.1.0"
