"""Reference solutions pass in the Docker sandbox (a spread of problems per task; the full check is
`python -m nfbench.tasks.verify humaneval humaneval+ mbpp mbpp+ synth`)."""
from __future__ import annotations

import pytest

from nfbench.harness.registry import get_task
from nfbench.tasks.verify import summary, verify

PER_TASK = 6


@pytest.mark.docker
def test_references_pass_in_docker():
    from nfbench.sandbox import image
    from nfbench.sandbox.executor import Sandbox

    image.build_image()  # a no-op when the image for the current sandbox sources exists

    with Sandbox("docker") as sb:
        for name in ("humaneval", "humaneval+", "mbpp", "mbpp+", "synth"):
            problems = get_task(name)().problems()
            picked = problems[:: len(problems) // PER_TASK][:PER_TASK]
            verdicts = verify(picked, sb)
            assert len(verdicts) == PER_TASK
            assert all(v.base_status == "pass" and v.plus_status in (None, "pass") for v in verdicts), \
                summary(name, verdicts, 0)
            assert all((v.plus_status is not None) == get_task(name).has_plus for v in verdicts)
