#!/usr/bin/env python3
"""Programs that break the protocol bp-oracle/1, for checking that the oracle reports an ERROR
(or, for stderr_noise and slow, still a PASS) with a clear message, within its timeout, and
goes on with the remaining cases.

    python scripts/examples/misbehaving.py --mode MODE [N] [--flood-mb MB]

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
         "stderr_noise", "slow", "unsupported", "error_response")


def hang_forever():
    while True:
        time.sleep(3600)


def spoil_first_weight(response, value):
    """The response with ∂C/∂w^1_11 replaced by `value` (if it has grads)."""
    if "grads" in response:
        response["grads"][0]["W"][0][0] = value
    return response


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("n", nargs="?", type=float, default=None,
                        help="crash_on_nth: which request crashes (default 1); slow: seconds (default 1)")
    parser.add_argument("--flood-mb", type=float, default=50.0, help="flood: megabytes to write")
    args = parser.parse_args(argv)
    mode = args.mode

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
        say(response)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
