"""One dynamic partition per synthesis request; its key is the request_id."""

import dagster as dg

requests_partitions = dg.DynamicPartitionsDefinition(name="synthesis_requests")
