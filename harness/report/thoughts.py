"""The report's "Thoughts" section: per run, what `nfbench inspect` shows for a few problems (chosen
deterministically, solved and failed; harness/thoughts.py) and, on tasks with ground-truth chains, how
often the thoughts reproduce the chain's values. One collapsed block per run."""
from __future__ import annotations

import html
import json

from nfbench.harness.report.load import Run
from nfbench.harness.thoughts import describe_run, references, run_fidelity

SHOWN = 4  # problems per run
SILENT = ("direct",)  # no reasoning at all: nothing to show


def thoughts_html(runs: list[Run]) -> str:
    refs: dict[str, dict[str, str]] = {}  # one task load per task configuration
    blocks = []
    for run in runs:
        if run.key[0] in SILENT or not run.generations:
            continue
        config = run.manifest.get("config") or {}
        which = json.dumps([run.task, config.get("task_options"), config.get("split")], sort_keys=True, default=str)
        if which not in refs:
            refs[which] = references(run)
        score = run_fidelity(run, refs[which])
        summary = f"{run.method} on {run.task}" + (f": {score.describe()}" if score else "")
        text = describe_run(run, n=SHOWN, refs=refs[which])
        blocks.append(f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>")
    if not blocks:
        return ""
    return ('<h2 id="thoughts">Thoughts</h2><p class="meta">What each run\'s reasoning says, as recorded per sample '
            "(`nfbench inspect RUN` for any problem): NF-CoT's latents decoded through the VAE with their "
            "log-likelihoods, Latent-SFT's and Soft Thinking's mixtures, Coconut's nearest tokens, CoT's text. "
            "Values reproduced: the ground-truth chain's intermediate results found in place.</p>" + "".join(blocks))
