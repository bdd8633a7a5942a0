"""LiveCodeBench's verdict rules (sandbox/container/io_rules.py) and how a candidate runs programs
(sandbox/container/candidate_io.py), against the behaviour of LiveCodeBench's runner at 28fef95
(lcb_runner/evaluation/testing_util.py; line numbers in io_rules' docstring)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "sandbox" / "container"))

import io_rules  # noqa: E402

# (program's stdout, recorded output, passes?) -- grade_stdio's rules
STDOUT_CASES = [
    ("7\n", "7", True),  # trailing newline
    ("7", "7\n\n\n", True),  # trailing blank lines
    ("\n\n7", "7", True),  # leading blank lines
    ("  7  \n", "7", True),  # spaces around a line
    ("7\r\n8\r\n", "7\n8\n", True),  # CRLF: "\r" is stripped with the line
    ("1\n  \n2", "1\n\n2", True),  # a blank line inside, spaces or not
    ("1\n\n2", "1\n2", False),  # ... but an extra blank line inside is an extra line
    ("1\n2", "1\n2\n3", False),  # a missing line
    ("", "", True),
    ("   \n\t", "", True),  # whitespace only is the empty output
    ("", "0", False),
    ("1 2", "1  2", True),  # numbers are compared token by token ...
    ("5\t6", "5 6", True),
    ("a b", "a  b", False),  # ... words are not: the line must be equal
    ("Yes", "yes", False),  # case matters
    ("1.0", "1", True),  # numbers compare as decimals
    ("2.5", "2.500000", True),
    ("1e3", "1000", True),
    ("-0", "0", True),
    ("+5", "5", True),
    ("0.333333", "0.3333333", False),  # no tolerance
    ("0.1", "0.10000000000000001", False),
    ("50000000000000000", "50000000000000001", False),  # exact, where np.isclose would say yes
    ("1 2 3", "1 2", False),  # token counts differ
    ("0x10", "16", False),  # not a decimal
    ("1_000", "1000", True),  # what decimal.Decimal accepts, it accepts
    ("inf", "Infinity", True),
    ("nan", "nan", True),  # equal text ...
    ("NaN", "nan", False),  # ... but a NaN never equals as a number
    ("sNaN", "snan", False),  # signalling NaNs refuse comparison: a wrong answer, not a crash
    ("3 x", "3 x", True),
    ("3 x", "3.0 x", False),  # one token is not a number: the line must be equal
]


@pytest.mark.parametrize("got, expected, passes", STDOUT_CASES)
def test_stdout_comparison(got, expected, passes):
    assert (io_rules.compare_stdout(got, expected) == "") is passes


def test_stdout_lines_and_reasons():
    assert io_rules.stdout_lines(" a \r\n\n b \n\n") == ["a", "", "b"]
    assert io_rules.stdout_lines("") == [""]
    assert io_rules.compare_stdout("1\n2\n", "1\n") == "wrong answer: 2 output lines, expected 1"
    assert io_rules.compare_stdout("1\n3", "1\n2") == "wrong answer at line 2: '3' != '2'"
    long = io_rules.compare_stdout("x" * 10_000, "y")
    assert len(long) < 200 and "..." in long  # details stay short for megabyte outputs


NAN = float("nan")


def nested(depth: int) -> list:
    x: list = []
    for _ in range(depth):
        x = [x]
    return x


# (returned value, recorded JSON output, passes?) -- grade_call_based's rules
VALUE_CASES = [
    ((1, 2), [1, 2], True),  # a returned tuple counts as a list ...
    ([(1, 2)], [[1, 2]], False),  # ... only at the top level
    (((1, 2),), [[1, 2]], False),
    (1, 1.0, True),  # plain ==, no types compared
    (True, 1, True),
    (0, False, True),
    ("1", 1, False),
    (None, None, True),
    ([], [], True),
    ({"a": [1]}, {"a": [1]}, True),
    ({1: 2}, {"1": 2}, False),  # JSON keys are strings
    (1.0000001, 1.0, False),  # no float tolerance
    (0.1 + 0.2, 0.3, False),
    (NAN, NAN, False),
    ([1, 2], [2, 1], False),
    ({1, 2}, [1, 2], False),
    (nested(100_000), nested(100_000), False),  # too deep to compare: a wrong answer, not a judge crash
]


@pytest.mark.parametrize("got, expected, passes", VALUE_CASES, ids=[str(i) for i in range(len(VALUE_CASES))])
def test_value_comparison(got, expected, passes):
    assert (io_rules.compare_value(got, expected) == "") is passes


def test_functional_tests_decode_one_json_argument_per_line():
    assert io_rules.decode_arguments('[1, 2]\n3\n"a b"') == [[1, 2], 3, "a b"]
    assert io_rules.decode_output("[[1], []]") == [[1], []]
    with pytest.raises(ValueError):  # a trailing newline is an empty JSON document (LCB errors too)
        io_rules.decode_arguments("1\n")


def test_prepared_tests_follow_func_name_not_testtype():
    tests = [{"input": "[1, 2]\n3", "output": "[1]", "testtype": "stdin"}]
    assert io_rules.prepare_tests(tests, "f") == [(([1, 2], 3), [1])]
    assert io_rules.prepare_tests(tests, "") == [(("[1, 2]\n3",), "[1]")]
    assert io_rules.verdict("[1]\n", "[1]", functional=False) == ""
    assert "text" in io_rules.verdict(["[1]"], "[1]", functional=False)  # a stdin answer must be text
    assert io_rules.verdict((1,), [1], functional=True) == ""


def test_limits_are_livecodebench_defaults():
    assert io_rules.TIME_LIMIT == 6.0
    assert io_rules.sample_budget(10) == 75.0  # (6 + 1) x 10 + 5
    assert io_rules.sample_budget(3, 2.0) == 14.0


# --- the candidate's side: how programs see their input (a subprocess, under evalplus's guard) ---
def run_programs(cases: list[dict]) -> list[dict]:
    r = subprocess.run([sys.executable, str(REPO / "tests" / "lcb_local_judge.py")], input=json.dumps(cases),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def stdin_case(code: str, inp: str = "3 4\n5\n", out: str = "7\n5\n", **kw) -> dict:
    return {"io_tests": [{"input": inp, "output": out, "testtype": "stdin"}], "func_name": "", "code": code, **kw}


# idioms that read the whole input "3 4\n5\n" and print 7 then 5
READERS = {
    "input": "a, b = map(int, input().split())\nprint(a + b)\nprint(input())",
    "readline": "import sys\nr = sys.stdin.readline\na, b = map(int, r().split())\nprint(a + b)\nprint(int(r()))",
    "from-sys-import": "from sys import stdin\na, b = map(int, stdin.readline().split())\nprint(a + b, int(stdin.readline()), sep='\\n')",
    "read-all": "import sys\na, b, c = map(int, sys.stdin.read().split())\nprint(a + b)\nprint(c)",
    "readlines": "import sys\nls = sys.stdin.readlines()\nprint(sum(map(int, ls[0].split())))\nprint(ls[1].strip())",
    "iterate": "import sys\nfor i, line in enumerate(sys.stdin):\n    print(sum(map(int, line.split())))",
    "buffer-read": "import sys\nd = sys.stdin.buffer.read().split()\nprint(int(d[0]) + int(d[1]))\nprint(int(d[2]))",
    "buffer-readline": "import sys\nr = sys.stdin.buffer.readline\na, b = map(int, r().split())\nprint(a + b)\nprint(int(r()))",
    "open-0": "d = open(0).read().split()\nprint(int(d[0]) + int(d[1]))\nprint(d[2])",
    "os-read": "import os\nd = os.read(0, 100).split()\nprint(int(d[0]) + int(d[1]))\nprint(int(d[2]))",
    "stdout-buffer": "import sys\nd = sys.stdin.read().split()\nsys.stdout.buffer.write(b'%d\\n%s\\n' % (int(d[0]) + int(d[1]), d[2].encode()))",
    "main-guard": "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n    print(input())\n\nif __name__ == '__main__':\n    main()",
    "main-guard-not-last": "def main():\n    a, b = map(int, input().split())\n    print(a + b)\n    print(input())\nif __name__ == '__main__':\n    main()\nX = 1",
    "global": "s = 0\ndef add(x):\n    global s\n    s += x\nfor t in input().split():\n    add(int(t))\nprint(s)\nprint(input())",
    "thread": "import threading, sys\ndef main():\n    a, b = map(int, input().split())\n    print(a + b)\n    print(input())\n"
              "threading.stack_size(1 << 25)\nthreading.Thread(target=main).start()",
    "prelude": "a, b = map(int, input().split())\nprint(int(sqrt((a + b) ** 2)))\nprint(len(deque([0] * int(input()))))",
    "exit": "a, b = map(int, input().split())\nprint(a + b)\nprint(input())\nexit()\nprint('never')",
    "sys-exit-1": "import sys\na, b = map(int, input().split())\nprint(a + b, input(), sep='\\n')\nsys.exit(1)",
    "close-stdout": "import sys\nprint(7)\nprint(5)\nsys.stdout.close()",
}


def test_every_stdin_idiom_reads_the_input_and_is_captured():
    names = list(READERS)
    results = run_programs([stdin_case(READERS[n]) for n in names])
    failing = {n: r["detail"] for n, r in zip(names, results) if r["status"] != "pass"}
    assert not failing


def test_stdin_programs_run_afresh_per_test():
    tests = [{"input": f"{i}\n", "output": f"{i}\n1\n", "testtype": "stdin"} for i in range(3)]
    # module state does not leak from one test into the next; input() at EOF raises EOFError
    code = "n = int(input())\nruns = globals().get('runs', 0) + 1\nprint(n)\nprint(runs)"
    eof = "print(input())\nprint(input())"
    r = run_programs([{"io_tests": tests, "func_name": "", "code": code},
                      stdin_case(eof, "1\n", "1\n1\n")])
    assert r[0]["status"] == "pass", r[0]
    assert r[1]["status"] == "fail" and "EOFError" in r[1]["detail"]


def test_stdin_failures():
    r = run_programs([
        stdin_case("print(7)\nprint(5)\nraise ValueError"),  # right output, then an exception: fails
        stdin_case("quit()"),  # quit is None, as under LiveCodeBench's guard
        stdin_case("print('x' * 1000)", max_output=100),  # over the output cap
        stdin_case("def f(:\n"),  # does not compile
        stdin_case("print(10 ** 20000 % 7)\nprint(len(str(10 ** 40000)))", "", "2\n40001\n"),  # 50000-digit ints
    ])
    assert [x["status"] for x in r] == ["fail", "fail", "fail", "error", "pass"], r
    assert "ValueError" in r[0]["detail"] and "TypeError" in r[1]["detail"] and "OutputLimit" in r[2]["detail"]


def functional_case(code: str, tests: list[tuple[str, str]], func_name: str = "f") -> dict:
    return {"io_tests": [{"input": i, "output": o, "testtype": "functional"} for i, o in tests],
            "func_name": func_name, "code": code}


def test_functional_calls():
    r = run_programs([
        # one Solution() serves every test, in order (LiveCodeBench's compile_code)
        functional_case("class Solution:\n    n = 0\n    def f(self, x):\n        self.n += 1\n        return x + self.n",
                        [("1", "2"), ("1", "3")]),
        # without "class Solution" the module-level function is called
        functional_case("def f(a, b):\n    return [a, b]", [('[1]\n"s"', '[[1], "s"]')]),
        # the prelude provides typing's and collections' names; prints are dropped
        functional_case("class Solution:\n    def f(self, a: List[int]) -> Dict[int, int]:\n        print('noise')\n"
                        "        return dict(Counter(a))", [("[1, 1]", '{"1": 2}')]),
        functional_case("class Solution:\n    def g(self, x):\n        return x", [("1", "1")]),  # no such method
        functional_case("class Solution:\n    def f(self, x):\n        raise SystemExit(0)", [("1", "1")]),
        functional_case("class Solution:\n    def f(self, x):\n        return x\nraise RuntimeError", [("1", "1")]),
    ])
    assert [x["status"] for x in r] == ["pass", "pass", "fail", "error", "fail", "error"], r
    assert "returned {1: 2}" in r[2]["detail"]  # int keys are not the JSON's string keys
    assert "SystemExit" in r[4]["detail"]
