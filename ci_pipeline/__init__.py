"""ci_pipeline: shared measurement for a Collective Impact initiative in Oslo.

Library code without Dagster imports, one module per job; the Dagster layer is ci_pipeline/defs/,
assembled in ci_pipeline/definitions.py. The module map is in docs/ARCHITECTURE.md.
"""
