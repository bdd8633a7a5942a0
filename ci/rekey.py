"""Move a committed regress checkpoint to its member's current cache key, weights untouched.

    .venv/bin/python ci/rekey.py cot [--suite ci/suite.yaml]       (a member's name)

For a change to a member's training sources that does not change what it learns (a refactor, a
comment): the key changes with the sources, and without this CI would retrain the member, which for
CoT gives other weights on another CPU (ci/README.md). Only after checking that the training is
the same (the encoded data, the initial weights and the first steps bit for bit, old code vs new:
ci/README.md says how): this script cannot tell, it records that it was used. checkpoint.json gets
the training config as the current code resolves it and a `rekeyed` entry (old key, date, git commit).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nfbench.harness import regress
from nfbench.harness import regress_cache as cache
from nfbench.harness.checkpoints import INFO
from nfbench.harness.config import TrainConfig, load_config, to_dict
from nfbench.harness.manifest import git_info
from nfbench.harness.stages import DONE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("member")
    ap.add_argument("--suite", type=Path, default=regress.DEFAULT_SUITE)
    args = ap.parse_args()
    suite = regress.load_suite(args.suite)
    member = next(m for m in suite.members if m.name == args.member)
    if member.starts_from:
        raise SystemExit("only members trained from the backbone can be re-keyed alone (their key names no other entry)")
    [old] = cache.entries(suite.committed, member.name)
    overrides, key = regress.member_key(member, {})
    new = old.with_name(f"{member.name}-{key}")
    if new == old:
        print(f"{old} already has the current key")
        return
    info = json.loads((old / INFO).read_text())
    info["train_config"] = {**to_dict(load_config(TrainConfig, str(member.config), dict(overrides))),
                            "out": info["train_config"].get("out")}
    # each stage's record, from its done marker (as harness/stages.publish writes them)
    info["stages"] = [{"name": d.parent.name, **json.loads(d.read_text())} for d in sorted(old.glob(f"*/{DONE}"))]
    info.setdefault("rekeyed", []).append({"from": old.name, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                           "git": git_info().get("commit")})
    (old / INFO).write_text(json.dumps(info, indent=2))
    old.rename(new)
    print(f"{old.name} -> {new.name} (git add -A {suite.committed})")


if __name__ == "__main__":
    main()
