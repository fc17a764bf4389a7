"""The sweep that proves manual_bp: `bp-oracle verify`.

Seeded random networks, manual_bp (or a `--backprop` of yours) run on each in any dtype, judged
against the padded jax.grad reference tensor by tensor, with a finite-difference witness on every
disagreement. This is the one part of bp_oracle that loads manual_bp: the judging side
(`check_implementation`, `check`, `vectors`, `grade`) never does.
"""
