"""The manifest: the one public record of a run (where the export went, its hash, its quality, its ε).

The `quality` block is the quality report's public scores: for a DP request those are
computed on synthetic rows alone. When the request set thresholds, a DP manifest also
carries `publish_gate`: the gate compared with the real rows outside the ε guarantee.
A DP fit's duration grows with the rows it saw, so a DP manifest has no train_seconds (nor
the training sample's size, which any other manifest states).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import synth_pipelines
from synth_pipelines.core.payloads import QualityOutcome, SyntheticExport
from synth_pipelines.core.request import SynthesisRequest


def build_manifest(
    request: SynthesisRequest,
    training_record: dict[str, Any],
    export: SyntheticExport,
    quality: QualityOutcome,
    run_ids: dict[str, str],
) -> dict[str, Any]:
    """The manifest of one run, before publishing adds where each target put the files.

    `run_ids` names the run that made it (the wiring passes the orchestrator's run id).
    """
    manifest: dict[str, Any] = {
        "request_id": request.request_id,
        "requester": request.requester,
        "rows": export.rows,
        "format": export.format,
        "compression": export.compression,
        "sha256": export.sha256,
        "bytes": export.bytes,
        "schema": [list(pair) for pair in export.schema],
        "seed": request.seed,
        "keep": request.keep,
        "synthesizer": {**request.synthesizer.model_dump(mode="json"), "device": training_record["device"]},
        "quality": quality.public_scores,
        "privacy": training_record.get("privacy"),
        "created_at": datetime.now(UTC).isoformat(),
        "code_version": synth_pipelines.__version__,
        **run_ids,
    }
    if training_record.get("auto"):  # `auto`: which synthesizer the run picked, and why
        manifest["synthesizer"].update(training_record["auto"])
    if request.privacy is None:
        manifest["synthesizer"]["train_seconds"] = training_record["train_seconds"]
        # A bounded training sample (training/treated.py): how many rows the fit saw, of how many.
        if training_record.get("training_sample"):
            manifest["synthesizer"]["training_sample"] = training_record["training_sample"]
    if request.template is not None:
        manifest["template"] = request.template
    if quality.publish_gate:
        manifest["publish_gate"] = quality.publish_gate
    return manifest


def public_report_files(quality: QualityOutcome) -> dict[str, str]:
    """The report files that may be published, by name.

    The HTML report shows real-data statistics and stays private unless the request says
    otherwise (never for a DP request); the public report is then the public scores alone.
    """
    files = {name: quality.files[name] for name in quality.public_files}
    if "report" not in files and "public_scores" in files:
        files["report"] = files.pop("public_scores")
    return files
