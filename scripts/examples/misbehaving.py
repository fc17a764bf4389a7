#!/usr/bin/env python3
"""Programs that break the protocol bp-oracle/1, for checking that the oracle reports an ERROR
(or, for stderr_noise and slow, still a PASS) with a clear message, within its timeout, and
goes on with the remaining cases.

    python scripts/examples/misbehaving.py --mode MODE [N] [--flood-mb MB] [--stderr-mb MB]
                                           [--fork-child PIDFILE]

Where a mode answers at all, its answers are numpy_backprop.py's correct ones, spoiled as below.

  crash            reads the first request, then dies of an uncaught exception (status 1)
  crash_on_nth N   answers N − 1 requests, then dies the same way on the Nth
  hang             reads the first request and never answers nor reads again
  garbage          answers every request with a line that is not JSON
  wrong_id         answers with an id that is not the request's
  wrong_shape      answers with the last row of ∂C/∂W^1 missing
  null_number      answers with null in place of ∂C/∂w^1_11
  nan              answers with NaN there (bare NaN, as Python's json writes it: not JSON)
  inf              answers with Infinity there (likewise not JSON)
  missing_grads    answers {"id": ...} with no grads, error or unsupported
  early_exit       reads the first request, then exits 0 without answering
  flood            writes MB megabytes (default 50) with no newline, then hangs
  no_flush         answers correctly but never flushes stdout (a common mistake): nothing
                   arrives until the end of stdin
  stdout_noise     writes a log line to stdout before every answer (logs belong on stderr)
  stderr_noise     answers correctly, writing 256 KiB of logs to stderr per request: must PASS
  slow N           answers correctly after sleeping N seconds per request (default 1): PASSes
                   when N is under the oracle's timeout
  unsupported      answers "unsupported" to every request: every case a SKIP
  error_response   answers "error" to every request
  die_at_start     writes a line to stderr and exits 3 before reading any request (a program
                   that cannot start): the oracle says "cannot start", exit 2
  stray_line N     answers correctly, but writes one line that is not a response before the
                   answer to its Nth request (default 1: a start-up banner): that case is an
                   ERROR and a fresh process answers the next one
  lenient_format   answers correctly with a UTF-8 BOM first, CRLF line ends, blank lines and a
                   BOM at the start of a line before answers, and x- extension fields at the
                   top and inside each layer's gradients: must PASS

Two options add a trait to any mode:

  --stderr-mb MB        writes MB megabytes of log lines to stderr on every request, first
  --fork-child PIDFILE  forks, at start-up, a child that sleeps forever holding stdout and
                        stderr open, and appends its pid to PIDFILE (one line per start)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy_backprop as nb  # noqa: E402  (the correct example, next to this file)

MODES = ("crash", "crash_on_nth", "hang", "garbage", "wrong_id", "wrong_shape", "null_number",
         "nan", "inf", "missing_grads", "early_exit", "flood", "no_flush", "stdout_noise",
         "stderr_noise", "slow", "unsupported", "error_response", "die_at_start", "stray_line",
         "lenient_format")

BOM = b"\xef\xbb\xbf"


def hang_forever():
    while True:
        time.sleep(3600)


def spoil_first_weight(response, value):
    """The response with ∂C/∂w^1_11 replaced by `value` (if it has grads)."""
    if "grads" in response:
        response["grads"][0]["W"][0][0] = value
    return response


def fork_sleeping_child(pid_file):
    """A child that inherits stdout and stderr and outlives us unless its process group is ended."""
    pid = os.fork()
    if pid == 0:
        try:
            hang_forever()
        finally:
            os._exit(0)
    with open(pid_file, "a") as f:
        f.write(f"{pid}\n")


def flood_stderr(megabytes, count):
    line = f"request {count}: a log line " + "." * 100 + "\n"
    for _ in range(int(megabytes * 2**20) // len(line)):
        sys.stderr.write(line)
    sys.stderr.flush()


def die_at_start():
    sys.stderr.write("misbehaving: cannot load my weights, giving up\n")
    sys.stderr.flush()
    return 3


def say_leniently(response, count):
    """The answer as bytes a tolerant reader accepts: BOMs, blank lines, CRLF, x- fields."""
    response["x-time-ms"] = 1.5
    for layer in response.get("grads", []):
        layer["x-norm"] = {"W": 1.0, "x-deeper": {"anything": [1, "two", None]}}
    out = sys.stdout.buffer
    if count == 1:
        out.write(BOM)                      # at the start of the stream
    else:
        out.write(b"\r\n   \n" + BOM + b"\r\n")  # blank lines, one of them only a BOM
    if count % 2 == 0:
        out.write(BOM)                      # at the start of a line
    out.write(json.dumps(response).encode("utf-8") + b"\r\n")
    out.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("n", nargs="?", type=float, default=None,
                        help="crash_on_nth: which request crashes (default 1); slow: seconds (default 1)")
    parser.add_argument("--flood-mb", type=float, default=50.0, help="flood: megabytes to write")
    parser.add_argument("--stderr-mb", type=float, default=0.0, help="megabytes of stderr per request")
    parser.add_argument("--fork-child", metavar="PIDFILE", help="fork a sleeping child holding stdout")
    args = parser.parse_args(argv)
    mode = args.mode
    if args.fork_child:
        fork_sleeping_child(args.fork_child)
    if mode == "die_at_start":
        return die_at_start()

    def say(response):
        sys.stdout.write(json.dumps(response) + "\n")  # json.dumps writes NaN and Infinity bare
        if mode != "no_flush":
            sys.stdout.flush()

    count = 0
    for raw in sys.stdin.buffer:
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        count += 1
        if args.stderr_mb:
            flood_stderr(args.stderr_mb, count)
        if mode == "crash" or (mode == "crash_on_nth" and count >= (args.n or 1)):
            raise RuntimeError(f"misbehaving: crashing on request {count}")  # traceback, status 1
        if mode == "hang":
            hang_forever()
        if mode == "early_exit":
            return 0
        if mode == "flood":
            chunk = "x" * (1 << 20)
            for _ in range(int(args.flood_mb)):
                sys.stdout.write(chunk)
            sys.stdout.flush()
            hang_forever()
        if mode == "garbage":
            sys.stdout.write("this is not JSON {\n")
            sys.stdout.flush()
            continue

        response = nb.answer(line)
        rid = response.get("id")
        if mode == "wrong_id":
            response["id"] = f"{rid}-not-this-one" if isinstance(rid, str) else "not-this-one"
        elif mode == "wrong_shape" and "grads" in response:
            response["grads"][0]["W"].pop()
        elif mode == "null_number":
            spoil_first_weight(response, None)
        elif mode == "nan":
            spoil_first_weight(response, float("nan"))
        elif mode == "inf":
            spoil_first_weight(response, float("inf"))
        elif mode == "missing_grads":
            response = {"id": rid}
        elif mode == "unsupported":
            response = {"id": rid, "unsupported": "misbehaving: nothing is implemented"}
        elif mode == "error_response":
            response = {"id": rid, "error": "misbehaving: refusing every request"}
        elif mode == "stdout_noise":
            sys.stdout.write(f"computing gradients for request {count}...\n")
        elif mode == "stderr_noise":
            for i in range(4096):
                sys.stderr.write(f"request {count}: log line {i:5d} " + "." * 40 + "\n")
            sys.stderr.flush()
        elif mode == "slow":
            time.sleep(1.0 if args.n is None else args.n)
        elif mode == "stray_line" and count == (args.n or 1):
            sys.stdout.write("misbehaving: a line that is not a response\n")
        elif mode == "lenient_format":
            say_leniently(response, count)
            continue
        say(response)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
