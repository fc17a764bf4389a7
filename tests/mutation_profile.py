"""A pytest plugin for mutation testing (docs/mutation.md), loaded only by mutmut's pytest
arguments (`-p tests.mutation_profile`, [tool.mutmut] in pyproject.toml).

Before conftest.py is imported it turns the reference's answer cache off (a mutant of the reference
or the spec would otherwise read answers kept for the unmutated code, or keep its own under the
unmutated code's digest) and picks the hypothesis profile "mutation": the suite's examples, drawn
as in CI (derandomized, so every mutant meets the same ones), no example database shared between
mutants, and no shrinking. A failing example kills the mutant as soon as it is found; shrinking it,
a new jax compilation per smaller network, took minutes and ran into mutmut's timeout.
"""

import os

from hypothesis import HealthCheck, Phase, settings

os.environ["BP_ORACLE_ANSWER_CACHE"] = "off"
os.environ["HYPOTHESIS_PROFILE"] = "mutation"
settings.register_profile("mutation", max_examples=40, deadline=None, derandomize=True, database=None,
                          phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.too_slow])
