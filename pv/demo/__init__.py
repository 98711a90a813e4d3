"""The synthetic NCT04660565 demo trial."""

from pathlib import Path

# The trial's ClinicalTrials.gov record (API v2 shape), written from the seed record.
RECORD_PATH = Path(__file__).with_name("NCT04660565.json")
