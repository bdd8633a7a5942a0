"""How a model reads a problem and writes its answer: the one home of prompts, SFT targets, the answer
marker and the path from answer text to program, shared by every method.

A format is a task x a tokenizer x whether the method reasons. Two kinds, chosen by the tokenizer:
  compact  (no chat template, e.g. tiny-llama trained from scratch on synth): `<bos>prompt reasoning
           answer<eos>` in the task's own compact format (Task.format_example), whose reasoning ends with
           a newline, so the first generated newline ends the reasoning.
  chat     (instruct models): the chat template around an instruction and the problem; the model
           reasons in prose and answers in a ```python block, whose opening fence ends the reasoning.
Latent methods use the same prompts and answers and replace only what sits between them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nfbench.harness.sft_data import SFTExample
from nfbench.harness.types import Problem
from nfbench.tasks.base import Task
from nfbench.tasks.prompting import extract_solution

COT_INSTRUCTION = ("Solve the following Python programming problem. First think step by step about "
                   "how to solve it, then give the complete solution in one ```python code block.")
DIRECT_INSTRUCTION = ("Solve the following Python programming problem. Reply with only the complete "
                      "solution in one ```python code block, without explanation.")
COT_TRIGGER = "Let's think step by step."  # zero-shot CoT (Kojima et al. 2022): small models then do reason first
FENCE = "```"


@dataclass(frozen=True)
class PromptFormat:
    task: Task | None  # None: training from a JSONL set (prompts as the set states them)
    tokenizer: Any  # a HF tokenizer
    reasons: bool  # whether the prompt asks for reasoning before the answer
    trained: bool = True  # SFT'd weights: prompts exactly as in the SFT data, no zero-shot trigger

    @property
    def compact(self) -> bool:
        return not getattr(self.tokenizer, "chat_template", None)

    # --- what the model reads -----------------------------------------------------------------------
    def statement(self, problem: Problem) -> str:
        """The problem as SFT records state it (harness/sft_data.task_examples): the task's compact
        prompt where a compact model reads one, else the dataset's prompt."""
        compact = self.task.format_example(problem) if self.compact and self.task is not None else None
        return compact[0] if compact else problem.prompt

    def prompt(self, statement: str) -> str:
        """The exact text fed before the reasoning."""
        if self.compact:
            return statement
        instruction = COT_INSTRUCTION if self.reasons else DIRECT_INSTRUCTION
        messages = [{"role": "user", "content": f"{instruction}\n\n{statement.strip()}"}]
        text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text + COT_TRIGGER if self.reasons and not self.trained else text

    def prompt_ids(self, prompt: str) -> list[int]:
        """Token ids of a `prompt(...)` text: <bos> first in the compact format (where there is one)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        bos = self.tokenizer.bos_token_id
        return ([bos] if self.compact and bos is not None else []) + ids

    def example_prompt_ids(self, ex: SFTExample) -> list[int]:
        return self.prompt_ids(self.prompt(ex.prompt))

    # --- what the model learns to write ---------------------------------------------------------------
    def answer_target(self, ex: SFTExample) -> str:
        """The answer part of an SFT target: the program as written (compact) or in a fenced block."""
        return ex.solution if self.compact else f"{FENCE}python\n{ex.solution.strip()}\n{FENCE}"

    def target(self, ex: SFTExample) -> str:
        """Everything after the prompt: the reasoning (where the method reasons) and the answer."""
        if not self.reasons or not ex.reasoning:
            return self.answer_target(ex)
        return ex.reasoning + ex.solution if self.compact else ex.reasoning.strip() + "\n\n" + self.answer_target(ex)

    def reference_reasoning(self, problem: Problem) -> str:
        """The problem's ground-truth chain in this format ("" where it has none): what latents are compared to."""
        if not problem.reasoning:
            return ""
        compact = self.task.format_example(problem) if self.compact and self.task is not None else None
        return (compact[1] if compact else problem.reasoning).strip()

    # --- reading what the model wrote -----------------------------------------------------------------
    @property
    def marker(self) -> str:
        """What ends the reasoning: the compact reasoning's newline, or the answer's opening fence."""
        return "\n" if self.compact else FENCE

    @property
    def stop_ids(self) -> set[int]:
        """Tokens that end an answer (a model trained from scratch may also emit padding)."""
        tok = self.tokenizer
        return {tok.eos_token_id} | ({tok.pad_token_id} if self.compact else set())

    def answer_done(self, answer: str) -> bool:
        """Whether an answer is complete before a stop token: a chat answer's code block has closed."""
        return not self.compact and answer.count(FENCE) >= 2 and answer.rstrip().endswith(FENCE)

    def program(self, problem: Problem, answer: str) -> str:
        """The self-contained program in an answer: the task's compact-format hook, then the sanitizer."""
        if self.compact and self.task is not None:
            answer = self.task.parse_answer(problem, answer)
        return extract_solution(problem, answer)

    @property
    def kind(self) -> str:
        return "compact" if self.compact else "chat"
