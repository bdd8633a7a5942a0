"""Entry point for the DDP test: `accelerate launch [--num_processes N --cpu] ddp_toy_train.py OUT BATCH`."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from nfbench.harness.config import TrainerConfig  # noqa: E402
from nfbench.harness.trainer import train_stage  # noqa: E402
from trainer_toy import toy_stage  # noqa: E402

if __name__ == "__main__":
    out, per_process_batch = Path(sys.argv[1]), int(sys.argv[2])
    cfg = TrainerConfig(lr=3e-3, batch_size=per_process_batch, grad_accum=1, max_steps=6, warmup_steps=2,
                        log_every=1, save_every=1000)
    from accelerate import Accelerator

    state = Accelerator().state  # reads ACCELERATE_USE_CPU, as the trainer's Accelerator does
    if state.is_main_process:
        print(f"world={state.num_processes} backend={state.backend}", flush=True)
    train_stage(toy_stage(out, cfg))
