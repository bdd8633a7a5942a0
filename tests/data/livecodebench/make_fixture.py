"""Regenerate the LiveCodeBench fixture in this folder:  python tests/data/livecodebench/make_fixture.py [DIR]

Writes test.jsonl, test2.jsonl ... test6.jsonl (the file names of HF livecodebench/code_generation_lite:
release_vN reads the first N files) in the release's row format, and solutions.json (per question_id:
the reference program, programs that must also pass under LiveCodeBench's lenient comparison, and
known-wrong programs with what is wrong). The problems are small originals written for nfbench (no
contest text is copied), spread over the three platforms, both test kinds and the date windows of the
six releases. Expected outputs are what the reference program prints or returns, computed here
without nfbench's sandbox code (a plain `python -c` for stdin programs, a direct call for functional
ones), so the fixture cannot inherit a bug of the code it tests. Private tests are stored as the
release stores them: plain JSON for some rows, base64(zlib(pickle(JSON text))) for the others.
Deterministic: run it twice, get the same bytes.
"""
from __future__ import annotations

import base64
import json
import pickle
import random
import subprocess
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"]
STARTER = "class Solution:\n    def {sig}:\n        "


def stdin_problem(file, qid, title, platform, contest, date, difficulty, text, public, gen, reference,
                  also_pass=(), wrong=(), compressed=True, n_private=6):
    return dict(file=file, question_id=qid, question_title=title, platform=platform, contest_id=contest,
                contest_date=date, difficulty=difficulty, question_content=text, starter_code="",
                func_name="", public=public, gen=gen, reference=reference, also_pass=list(also_pass),
                wrong=list(wrong), compressed=compressed, n_private=n_private)


def functional_problem(file, qid, title, contest, date, difficulty, text, sig, func_name, public, gen,
                       reference, also_pass=(), wrong=(), compressed=True, n_private=6):
    return dict(file=file, question_id=qid, question_title=title, platform="leetcode", contest_id=contest,
                contest_date=date, difficulty=difficulty, question_content=text,
                starter_code=STARTER.format(sig=sig), func_name=func_name, public=public, gen=gen,
                reference=reference, also_pass=list(also_pass), wrong=list(wrong), compressed=compressed,
                n_private=n_private)


def args_text(*args) -> str:
    return "\n".join(json.dumps(a) for a in args)


# --- the problems ---------------------------------------------------------------------------------
def _pairs(r):
    return f"{r.randint(-10**9, 10**9)} {r.randint(-10**9, 10**9)}\n"


def _words(r):
    t = r.randint(1, 4)
    return f"{t}\n" + "".join("".join(r.choice("abcxyz") for _ in range(r.randint(1, 8))) + "\n" for _ in range(t))


def _average(r):
    n = r.randint(1, 6)
    return f"{n}\n" + " ".join(str(r.randint(0, 100)) for _ in range(n)) + "\n"


def _grid(r):
    h, w = r.randint(1, 4), r.randint(1, 5)
    return f"{h} {w}\n"


def _yesno(r):
    return f"{r.randint(1, 10**6)}\n"


def _maxrun(r):
    n = r.randint(1, 3000)
    return f"{n}\n" + " ".join(str(r.randint(1, 3)) for _ in range(n)) + "\n"


def _maze(r):
    h, w = r.randint(2, 6), r.randint(2, 6)
    rows = ["".join("#" if r.random() < 0.25 else "." for _ in range(w)) for _ in range(h)]
    rows[0] = "." + rows[0][1:]
    rows[-1] = rows[-1][:-1] + "."
    return f"{h} {w}\n" + "\n".join(rows) + "\n"


PROBLEMS = [
    # ---- release_v1 (test.jsonl): May 2023 - March 2024 ----
    stdin_problem(
        "test.jsonl", "abc900_a", "Add Two Integers", "atcoder", "abc900", "2023-06-10T00:00:00", "easy",
        "You are given two integers A and B. Print A + B.\n\nInput\n\nA B\n\nOutput\n\nPrint the answer.",
        [("3 4\n", "7\n"), ("-5 5\n", "0\n")], _pairs,
        "a, b = map(int, input().split())\nprint(a + b)\n",
        also_pass=[("import sys\na, b = map(int, sys.stdin.read().split())\nsys.stdout.write(f'  {a + b}  \\n\\n')\n",
                    "spaces around the line and a blank line after it are stripped")],
        wrong=[("a, b = map(int, input().split())\nprint(a - b)\n", "subtracts"),
               ("a, b = input().split()\nprint(a + b)\n", "concatenates the strings")],
        compressed=False),
    functional_problem(
        "test.jsonl", "9001", "Pair With Target Sum", "weekly-contest-900", "2023-08-20T00:00:00", "easy",
        "Given an integer array nums and an integer target, return the indices [i, j] (i < j) of the first "
        "pair, in order of j then i, whose values sum to target, or [-1, -1] if there is none.",
        "pairWithSum(self, nums: List[int], target: int) -> List[int]", "pairWithSum",
        [(args_text([2, 7, 11, 15], 9), "[0, 1]"), (args_text([1, 2], 5), "[-1, -1]")],
        lambda r: args_text([r.randint(-20, 20) for _ in range(r.randint(2, 8))], r.randint(-10, 10)),
        "class Solution:\n    def pairWithSum(self, nums: List[int], target: int) -> List[int]:\n"
        "        seen = {}\n        for j, x in enumerate(nums):\n            if target - x in seen:\n"
        "                return [seen[target - x], j]\n            seen.setdefault(x, j)\n        return [-1, -1]\n",
        also_pass=[("class Solution:\n    def pairWithSum(self, nums, target):\n        for j in range(len(nums)):\n"
                    "            for i in range(j):\n                if nums[i] + nums[j] == target:\n"
                    "                    return (i, j)\n        return (-1, -1)\n", "a tuple counts as a list")],
        wrong=[("class Solution:\n    def pairWithSum(self, nums, target):\n        for i in range(len(nums)):\n"
                "            for j in range(i + 1, len(nums)):\n                if nums[i] + nums[j] == target:\n"
                "                    return [i, j]\n        return []\n", "returns [] when there is no pair"),
               ("class Solution:\n    def pairWithSum(self, nums, target):\n        return [str(0), str(1)]\n",
                "returns strings")]),
    stdin_problem(
        "test.jsonl", "1900_A", "Mirror Words", "codeforces", "1900", "2023-11-05T00:00:00", "easy",
        "The first line holds t. Each of the next t lines holds a word; print each word reversed, one per line.",
        [("2\nabc\nxy\n", "cba\nyx\n")], _words,
        "t = int(input())\nfor _ in range(t):\n    print(input()[::-1])\n",
        also_pass=[("import sys\nlines = sys.stdin.read().split()\nprint('\\n'.join(w[::-1] for w in lines[1:]))\n",
                    "reads everything at once"),
                   ("import sys\nnext(sys.stdin)\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n",
                    "iterates over sys.stdin (LiveCodeBench's stdin stand-in is not iterable: it fails this)")],
        wrong=[("t = int(input())\nfor _ in range(t):\n    print(input())\n", "does not reverse"),
               ("t = int(input())\nprint(' '.join(input()[::-1] for _ in range(t)))\n", "one line for all words")]),
    # ---- release_v2 (test2.jsonl): April - May 2024 ----
    stdin_problem(
        "test2.jsonl", "abc950_b", "Mean Score", "atcoder", "abc950", "2024-04-13T00:00:00", "medium",
        "Given N and N scores, print their mean with exactly six digits after the decimal point.",
        [("2\n2 3\n", "2.500000\n")], _average,
        "n = int(input())\na = list(map(int, input().split()))\nprint(f'{sum(a) / n:.6f}')\n",
        also_pass=[("n = int(input())\na = list(map(int, input().split()))\nprint(round(sum(a) / n, 6))\n",
                    "2.5 equals 2.500000 as a decimal")],
        wrong=[("n = int(input())\na = list(map(int, input().split()))\nprint(sum(a) // n)\n", "integer division"),
               ("n = int(input())\na = list(map(int, input().split()))\nprint(f'{sum(a) / n:.2f}')\n",
                "two decimals: LiveCodeBench compares numbers exactly, without tolerance")]),
    functional_problem(
        "test2.jsonl", "9002", "Count Vowel Words", "biweekly-contest-901", "2024-05-11T00:00:00", "easy",
        "Return how many of the given words start and end with a vowel (a, e, i, o, u).",
        "vowelWords(self, words: List[str]) -> int", "vowelWords",
        [(args_text(["are", "amy", "u"]), "2"), (args_text(["b"]), "0")],
        lambda r: args_text(["".join(r.choice("aebcu") for _ in range(r.randint(1, 4))) for _ in range(r.randint(1, 6))]),
        "class Solution:\n    def vowelWords(self, words: List[str]) -> int:\n"
        "        return sum(w[0] in 'aeiou' and w[-1] in 'aeiou' for w in words)\n",
        wrong=[("class Solution:\n    def vowelWords(self, words):\n        return sum(w[0] in 'aeiou' for w in words)\n",
                "checks only the first letter"),
               ("class Solution:\n    def vowelWords(self, words):\n        return str(sum(w[0] in 'aeiou' and w[-1] in 'aeiou' for w in words))\n",
                "returns a string")],
        compressed=False),
    # ---- release_v3 (test3.jsonl): June - July 2024 ----
    stdin_problem(
        "test3.jsonl", "1990_B", "Checkerboard", "codeforces", "1990", "2024-06-22T00:00:00", "easy",
        "Given H and W, print an H x W checkerboard of '#' and '.', starting with '#'.",
        [("2 3\n", "#.#\n.#.\n")], _grid,
        "h, w = map(int, input().split())\nfor i in range(h):\n    print(''.join('#.'[(i + j) % 2] for j in range(w)))\n",
        also_pass=[("h, w = map(int, input().split())\nfor i in range(h):\n    print(' ' + ''.join('#.'[(i + j) % 2] for j in range(w)) + '   ')\n",
                    "spaces around every line are stripped")],
        wrong=[("h, w = map(int, input().split())\nfor i in range(h):\n    print(''.join('.#'[(i + j) % 2] for j in range(w)))\n",
                "starts with '.'"),
               ("h, w = map(int, input().split())\nfor i in range(h):\n    print(' '.join('#.'[(i + j) % 2] for j in range(w)))\n",
                "spaces between cells: words must match exactly")]),
    functional_problem(
        "test3.jsonl", "9003", "Group By Parity", "weekly-contest-902", "2024-07-14T00:00:00", "medium",
        "Return [evens, odds]: the even and the odd numbers of nums, each in their original order.",
        "groupByParity(self, nums: List[int]) -> List[List[int]]", "groupByParity",
        [(args_text([1, 2, 3, 4]), "[[2, 4], [1, 3]]")],
        lambda r: args_text([r.randint(0, 50) for _ in range(r.randint(0, 7))]),
        "class Solution:\n    def groupByParity(self, nums: List[int]) -> List[List[int]]:\n"
        "        return [[x for x in nums if x % 2 == 0], [x for x in nums if x % 2]]\n",
        also_pass=[("class Solution:\n    def groupByParity(self, nums):\n"
                    "        return ([x for x in nums if x % 2 == 0], [x for x in nums if x % 2])\n",
                    "a top-level tuple counts as a list")],
        wrong=[("class Solution:\n    def groupByParity(self, nums):\n"
                "        return [tuple(x for x in nums if x % 2 == 0), tuple(x for x in nums if x % 2)]\n",
                "inner tuples: only the top-level tuple becomes a list"),
               ("class Solution:\n    def groupByParity(self, nums):\n"
                "        return [sorted(x for x in nums if x % 2 == 0), sorted((x for x in nums if x % 2), reverse=True)]\n",
                "reorders the odd numbers")]),
    # ---- release_v4 (test4.jsonl): August - September 2024 ----
    stdin_problem(
        "test4.jsonl", "abc970_c", "Perfect Square", "atcoder", "abc970", "2024-08-17T00:00:00", "easy",
        "Given N, print Yes if N is a perfect square and No otherwise.",
        [("16\n", "Yes\n"), ("15\n", "No\n")], _yesno,
        "import math\nn = int(input())\nprint('Yes' if math.isqrt(n) ** 2 == n else 'No')\n",
        wrong=[("import math\nn = int(input())\nprint('YES' if math.isqrt(n) ** 2 == n else 'NO')\n",
                "upper case: words are compared exactly"),
               ("n = int(input())\nprint('Yes' if int(n ** 0.5) ** 2 == n else 'No')\nraise SystemError\n",
                "raises after printing the right answer")],
        n_private=12),
    functional_problem(
        "test4.jsonl", "9004", "Median Of Three", "biweekly-contest-903", "2024-09-08T00:00:00", "medium",
        "Return the median of the three numbers a, b, c as a float.",
        "medianOfThree(self, a: int, b: int, c: int) -> float", "medianOfThree",
        [(args_text(1, 3, 2), "2.0")],
        lambda r: args_text(r.randint(-9, 9), r.randint(-9, 9), r.randint(-9, 9)),
        "class Solution:\n    def medianOfThree(self, a: int, b: int, c: int) -> float:\n"
        "        return float(sorted([a, b, c])[1])\n",
        also_pass=[("def medianOfThree(a, b, c):\n    return sorted([a, b, c])[1]\n"
                    "class Solution:\n    def medianOfThree(self, a, b, c):\n        return medianOfThree(a, b, c)\n",
                    "an int equals the float; the method, not the same-named function, is called")],
        wrong=[("class Solution:\n    def medianOfThree(self, a, b, c):\n        return (a + b + c) / 3\n", "the mean")]),
    # ---- release_v5 (test5.jsonl): October 2024 - January 2025 ----
    stdin_problem(
        "test5.jsonl", "2040_A", "Longest Run", "codeforces", "2040", "2024-12-01T00:00:00", "medium",
        "Given N and a sequence of N integers, print the length of its longest run of equal values.",
        [("5\n1 1 2 2 2\n", "3\n")], _maxrun,
        "import sys\n\ndef main():\n    data = sys.stdin.buffer.read().split()\n    n, a = int(data[0]), data[1:]\n"
        "    best = cur = 1\n    for i in range(1, n):\n        cur = cur + 1 if a[i] == a[i - 1] else 1\n"
        "        best = max(best, cur)\n    print(best)\n\nif __name__ == '__main__':\n    main()\n",
        also_pass=[("input()\nprint(max(len(list(g)) for _, g in groupby(input().split())))\n",
                    "uses groupby without importing it: LiveCodeBench's prelude imports itertools' names")],
        wrong=[("input()\na = input().split()\nprint(max(a.count(x) for x in set(a)))\n", "counts, not runs"),
               ("import sys\ninput = sys.stdin.readline\nn = int(input())\na = input().split()\nbest = cur = 0\n"
                "for i in range(1, n):\n    cur = cur + 1 if a[i] == a[i - 1] else 0\n    best = max(best, cur)\nprint(best)\n",
                "off by one")],
        n_private=10),
    functional_problem(
        "test5.jsonl", "9005", "Is Balanced", "weekly-contest-904", "2025-01-12T00:00:00", "easy",
        "Return true if every '(' in s is closed by a later ')' and every ')' closes an earlier '('.",
        "isBalanced(self, s: str) -> bool", "isBalanced",
        [(args_text("(()())"), "true"), (args_text(")("), "false")],
        lambda r: args_text("".join(r.choice("()") for _ in range(r.randint(1, 8)))),
        "class Solution:\n    def isBalanced(self, s: str) -> bool:\n        depth = 0\n        for ch in s:\n"
        "            depth += 1 if ch == '(' else -1\n            if depth < 0:\n                return False\n"
        "        return depth == 0\n",
        also_pass=[("class Solution:\n    def isBalanced(self, s):\n        d = 0\n        for ch in s:\n"
                    "            d += 1 if ch == '(' else -1\n            if d < 0:\n                return 0\n        return int(d == 0)\n",
                    "0 and 1 equal False and True")],
        wrong=[("class Solution:\n    def isBalanced(self, s):\n        return s.count('(') == s.count(')')\n",
                "counts only"),
               ("class Solution:\n    def isBalanced(self, s):\n        import sys\n        sys.exit(0)\n",
                "exits instead of returning")]),
    # ---- release_v6 (test6.jsonl): February - April 2025 ----
    stdin_problem(
        "test6.jsonl", "abc990_d", "Maze Distance", "atcoder", "abc990", "2025-03-01T00:00:00", "hard",
        "A grid of H rows and W columns has free cells '.' and walls '#'. Print the fewest moves from the "
        "top-left to the bottom-right cell (moving up, down, left or right through free cells), or -1.",
        [("2 2\n..\n#.\n", "2\n"), ("2 2\n.#\n#.\n", "-1\n")], _maze,
        "from collections import deque\nh, w = map(int, input().split())\ng = [input() for _ in range(h)]\n"
        "dist = [[-1] * w for _ in range(h)]\ndist[0][0] = 0\nq = deque([(0, 0)])\nwhile q:\n    i, j = q.popleft()\n"
        "    for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):\n"
        "        if 0 <= a < h and 0 <= b < w and g[a][b] == '.' and dist[a][b] < 0:\n"
        "            dist[a][b] = dist[i][j] + 1\n            q.append((a, b))\nprint(dist[h - 1][w - 1])\n",
        also_pass=[("import sys, threading\n\ndef main():\n    h, w = map(int, sys.stdin.readline().split())\n"
                   "    g = [sys.stdin.readline().strip() for _ in range(h)]\n    seen = {(0, 0): 0}\n    frontier = [(0, 0)]\n"
                   "    while frontier:\n        nxt = []\n        for i, j in frontier:\n"
                   "            for a, b in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)):\n"
                   "                if 0 <= a < h and 0 <= b < w and g[a][b] == '.' and (a, b) not in seen:\n"
                   "                    seen[(a, b)] = seen[(i, j)] + 1\n                    nxt.append((a, b))\n"
                   "        frontier = nxt\n    print(seen.get((h - 1, w - 1), -1))\n\n"
                   "threading.stack_size(1 << 24)\nthreading.Thread(target=main).start()\n",
                    "prints from a thread it started")],
        wrong=[("h, w = map(int, input().split())\nprint(h + w - 2)\n", "ignores the walls"),
               ("print(-1)\n", "always -1")],
        n_private=8),
    functional_problem(
        "test6.jsonl", "9006", "Rotate String", "weekly-contest-905", "2025-04-05T00:00:00", "medium",
        "Return s rotated left by k positions (k may exceed the length of s).",
        "rotateLeft(self, s: str, k: int) -> str", "rotateLeft",
        [(args_text("abcde", 2), '"cdeab"')],
        lambda r: args_text("".join(r.choice("abcdef") for _ in range(r.randint(1, 7))), r.randint(0, 20)),
        "class Solution:\n    def rotateLeft(self, s: str, k: int) -> str:\n        k %= len(s)\n        return s[k:] + s[:k]\n",
        wrong=[("class Solution:\n    def rotateLeft(self, s, k):\n        return s[k:] + s[:k]\n",
                "does not reduce k modulo the length"),
               ("class Solution:\n    def rotate(self, s, k):\n        k %= len(s)\n        return s[k:] + s[:k]\n",
                "the method has another name")]),
]


# --- running references (trusted code, outside nfbench's sandbox) --------------------------------
def run_stdin(code: str, text: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], input=text, capture_output=True, text=True, timeout=60)
    if r.returncode:
        raise RuntimeError(f"reference failed: {r.stderr[-500:]}")
    return r.stdout


def run_functional(code: str, func_name: str, text: str) -> str:
    env: dict = {}
    exec("from typing import *\n" + code, env)
    out = getattr(env["Solution"](), func_name)(*[json.loads(line) for line in text.split("\n")])
    return json.dumps(out)


def tests_of(p: dict) -> tuple[list[dict], list[dict]]:
    kind = "functional" if p["func_name"] else "stdin"
    r = random.Random(p["question_id"])
    public = [{"input": i, "output": o, "testtype": kind} for i, o in p["public"]]
    inputs = [p["gen"](r) for _ in range(p["n_private"])]
    run = (lambda t: run_functional(p["reference"], p["func_name"], t)) if p["func_name"] else \
        (lambda t: run_stdin(p["reference"], t))
    for t in public:
        got = run(t["input"])
        if (got.strip() if kind == "stdin" else json.loads(got)) != \
                (t["output"].strip() if kind == "stdin" else json.loads(t["output"])):
            raise RuntimeError(f"{p['question_id']}: the reference gives {got!r} on a public test")
    return public, [{"input": i, "output": run(i), "testtype": kind} for i in inputs]


def compress(tests: list[dict]) -> str:
    """The release's encoding of big test sets: base64 of zlib of a pickle of the JSON text."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests), protocol=4))).decode()


def row(p: dict) -> dict:
    public, private = tests_of(p)
    return {
        "question_title": p["question_title"], "question_content": p["question_content"],
        "platform": p["platform"], "question_id": p["question_id"], "contest_id": p["contest_id"],
        "contest_date": p["contest_date"], "starter_code": p["starter_code"], "difficulty": p["difficulty"],
        "public_test_cases": json.dumps(public),
        "private_test_cases": compress(private) if p["compressed"] else json.dumps(private),
        "metadata": json.dumps({"func_name": p["func_name"]} if p["func_name"] else {}),
    }


def main(out: Path = HERE) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        rows = [row(p) for p in PROBLEMS if p["file"] == name]
        (out / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    solutions = {p["question_id"]: {"reference": p["reference"],
                                    "also_pass": [{"code": c, "why": why} for c, why in p["also_pass"]],
                                    "wrong": [{"code": c, "why": why} for c, why in p["wrong"]]}
                 for p in PROBLEMS}
    (out / "solutions.json").write_text(json.dumps(solutions, indent=1) + "\n")
    print(f"wrote {len(PROBLEMS)} problems in {len(FILES)} files to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if sys.argv[1:] else HERE)
