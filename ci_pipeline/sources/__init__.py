"""Clients for the three public APIs the pipeline reads: SSB PxWebApi v2, FHI Statistikk and SSB KLASS.

Each client speaks one API over an HttpClient (ci_pipeline.http), which decides whether answers come
from the snapshot archive (replay) or the network (live/record).
"""

from ci_pipeline.sources.fhi import FhiClient, parse_fhi_timestamp
from ci_pipeline.sources.klass import KlassClient
from ci_pipeline.sources.ssb import Selection, SsbClient, plan_chunks, resolve_values

__all__ = [
    "FhiClient",
    "KlassClient",
    "Selection",
    "SsbClient",
    "parse_fhi_timestamp",
    "plan_chunks",
    "resolve_values",
]
