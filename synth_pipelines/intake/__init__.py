"""Stage 1, intake: requests arrive (dropped files, S3, GraphQL, schedules) and are accepted or rejected.

Wiring: defs/intake/ (synthesis_request asset, intake sensor) and defs/automation/ (standing requests).
"""
